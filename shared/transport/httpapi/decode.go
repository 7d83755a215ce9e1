package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/transport"
)

// decodeStrict decodes one JSON value into v and nothing else: unknown fields, values of the wrong
// type and trailing data are refused, each naming what is wrong, so a caller's typo is an error
// rather than a silently ignored setting.
// what names the payload in answers: "body" for plain requests, "data" for events.
func decodeStrict(data []byte, v any, what string) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return transport.Invalid(what, what+" is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, what)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return transport.Invalid(what, "unexpected data after the JSON value")
	}
	return nil
}

// maxFieldName bounds a caller-chosen field name echoed in an answer and a log line.
const maxFieldName = 128

func decodeError(err error, what string) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return transport.Invalid(what, what+" must be a JSON object")
		}
		return transport.Invalid(typeErr.Field, fmt.Sprintf("%s must be %s, got %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value))
	case errors.As(err, &syntaxErr):
		return transport.Invalid(what, fmt.Sprintf("malformed JSON at byte %d", syntaxErr.Offset))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return transport.Invalid(what, "truncated JSON")
	}
	// encoding/json reports an unknown field only as text: `json: unknown field "name"`.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if len(name) > maxFieldName {
			name = deliberation.Shorten(name, maxFieldName) + `"`
		}
		return transport.Invalid(strings.Trim(name, `"`), "unknown field "+name)
	}
	return transport.Invalid(what, "malformed JSON")
}

// jsonKind names a Go kind the way a JSON caller thinks of it.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return "a " + kind
}
