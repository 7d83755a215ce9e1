package deliberation

import "slices"

// DefaultPool is the pool of a request that names none and whose models map to no pool. A request
// of the default pool stores no pool, so requests stored before pools existed read the same.
const DefaultPool = "default"

// PoolName is the pool the request's attempts are queued on and run in.
func (r Request) PoolName() string {
	if r.Pool == "" {
		return DefaultPool
	}
	return r.Pool
}

// resolvePool picks the request's pool: the one it names, else the one every agent's model (and
// vllm_model) maps to, else the default one; it must be a pool some cluster serves. The default
// pool is stored as "".
func resolvePool(p *problems, named string, agents []AgentConfig, model string, lim Limits) string {
	pool := named
	if pool == "" {
		pool = poolOfModels(agents, model, lim.PoolModels)
	}
	served := lim.Pools
	if len(served) == 0 {
		served = []string{DefaultPool}
	}
	if !slices.Contains(served, pool) {
		if named != "" {
			p.add("pool", "no Ray cluster serves pool %q (served: %v)", Printable(echoedKey(named)), served)
		} else {
			p.add("pool", "no Ray cluster serves the pool %q the request's models map to (served: %v)", pool, served)
		}
	}
	if pool == DefaultPool {
		return ""
	}
	return pool
}

// poolOfModels is the pool every model of the request is listed under, or DefaultPool.
func poolOfModels(agents []AgentConfig, model string, pools map[string][]string) string {
	models := []string{}
	if model != "" {
		models = append(models, model)
	}
	for _, a := range agents {
		if a.Model != "" {
			models = append(models, a.Model)
		}
	}
	for pool, listed := range pools {
		if len(models) > 0 && !slices.ContainsFunc(models, func(m string) bool { return !slices.Contains(listed, m) }) {
			return pool
		}
	}
	return DefaultPool
}
