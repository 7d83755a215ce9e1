// Package config is the one place that reads the environment: it turns the variables of
// docs/configuration.md into a validated Config, reporting every problem at once so an operator
// fixes a deployment in one round instead of one variable per restart.
package config
