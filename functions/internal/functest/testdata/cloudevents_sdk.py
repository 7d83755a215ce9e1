"""Sends CloudEvents to the functions with the official Python SDK (pip package `cloudevents`), as
its users send them, and parses every reply with it.

Reads the plan from the file named by its argument: {"targets": [{"function", "url", "events": [{"type", "data"}]}]}.
Each event goes out three ways: binary mode with datacontenttype application/json, binary mode
without datacontenttype (the SDK then sends no Content-Type: what it does by default for a JSON
object), and structured mode as the SDK writes it. The requests go through http.client, which
adds no Content-Type of its own (urllib.request would add application/x-www-form-urlencoded).
Writes one JSON record per request to stdout; the Go test (cloudevents_sdk_test.go) judges them.
"""

import http.client
import json
import sys
import urllib.parse

from cloudevents.core.bindings import http as ce_http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

SOURCE = "/functest/python-sdk"


def build(mode, event_type, data):
    attributes = {"type": event_type, "source": SOURCE}
    if mode == "binary":
        attributes["datacontenttype"] = "application/json"
        return ce_http.to_binary(CloudEvent(attributes=attributes, data=data), JSONFormat())
    if mode == "binary, no datacontenttype":
        return ce_http.to_binary(CloudEvent(attributes=attributes, data=data), JSONFormat())
    return ce_http.to_structured(CloudEvent(attributes=attributes, data=data), JSONFormat())


def send(url, message):
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("POST", parts.path or "/", body=message.body, headers=message.headers)
        response = conn.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, response.read()
    finally:
        conn.close()


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        plan = json.load(f)
    records = []
    for target in plan["targets"]:
        for spec in target["events"]:
            for mode in ("binary", "binary, no datacontenttype", "structured"):
                record = {"function": target["function"], "type": spec["type"], "mode": mode}
                try:
                    message = build(mode, spec["type"], spec["data"])
                    record["request_content_type"] = message.headers.get("content-type", "")
                    status, headers, body = send(target["url"], message)
                    record["status"] = status
                    if status == 200:
                        reply = ce_http.from_http(ce_http.HTTPMessage(headers=headers, body=body), JSONFormat())
                        record["reply_type"] = reply.get_type()
                        record["reply_source"] = reply.get_source()
                        record["reply_id"] = reply.get_id()
                        record["reply_data"] = reply.get_data()
                    else:
                        record["body"] = body.decode("utf-8", "replace")
                except Exception as error:  # reported to the Go test, which fails on it
                    record["error"] = f"{type(error).__name__}: {error}"
                records.append(record)
    json.dump(records, sys.stdout)


if __name__ == "__main__":
    main()
