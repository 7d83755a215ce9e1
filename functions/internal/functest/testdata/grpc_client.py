"""Calls RayExecutorService with the Python client grpcio-tools generates from the contract, as the
platform's own services call it: RayExecutorServiceStub over grpc.insecure_channel (HTTP/2 without
TLS), the token and the idempotency key as metadata, errors as grpc.RpcError with a StatusCode.

Usage: grpc_client.py GENERATED_DIR PLAN_FILE. GENERATED_DIR holds fleet/ray_executor/v1/*_pb2*.py
as `python -m grpc_tools.protoc -I shared/proto --python_out=DIR --grpc_python_out=DIR ...` writes
them. The plan is {"combined": "host:port", "stats_only": "host:port", "token": ..., "unknown_id":
..., "model_server": ...}. Writes one JSON object of results to stdout; the Go test
(grpc_python_test.go) judges them.
"""

import json
import sys

sys.path.insert(0, sys.argv[1])

import grpc  # noqa: E402
from google.protobuf import json_format  # noqa: E402

from fleet.ray_executor.v1 import ray_executor_pb2 as pb  # noqa: E402
from fleet.ray_executor.v1 import ray_executor_pb2_grpc as pb_grpc  # noqa: E402

TIMEOUT = 10


def as_dict(message):
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


def outcome(call, request, metadata=(), extra=None):
    """The answer as a dict (with what extra reads of the message), or the error as its status
    code's name, its details and its google.rpc.Status trailer."""
    try:
        response = call(request, metadata=metadata, timeout=TIMEOUT)
    except grpc.RpcError as error:
        trailers = dict(error.trailing_metadata() or ())
        details_bin = trailers.get("grpc-status-details-bin", b"")
        return {
            "code": error.code().name,
            "details": error.details(),
            # google.rpc.Status, serialized: the detail types and field names show in its bytes.
            "status_details": details_bin.decode("latin-1"),
        }
    result = {"code": "OK", "response": as_dict(response)}
    if extra:
        result.update(extra(response))
    return result


def agents():
    return [pb.Agent(id="a1", role="DEV", model="m1"), pb.Agent(id="a2", role="QA", model="m2")]


def main():
    with open(sys.argv[2], encoding="utf-8") as f:
        plan = json.load(f)
    auth = (("authorization", "Bearer " + plan["token"]),)
    options = [("grpc.enable_http_proxy", 0)]
    results = {}
    with grpc.insecure_channel(plan["combined"], options=options) as channel:
        stub = pb_grpc.RayExecutorServiceStub(channel)
        execute = pb.ExecuteDeliberationRequest(
            task_id="task-py", task_description="Implement the cache", role="DEV",
            constraints=pb.TaskConstraints(story_id="story-1", plan_id="plan-1", timeout_seconds=120,
                                           max_retries=1, metadata={"caller": "python"}),
            agents=agents(), vllm_url=plan["model_server"], vllm_model="judge")
        keyed = auth + (("idempotency-key", "py-order-1"),)
        for name in ("execute", "execute_replay"):
            results[name] = outcome(stub.ExecuteDeliberation, execute, keyed)
        backlog = pb.ExecuteBacklogReviewDeliberationRequest(
            task_id="task-py-backlog", task_description="Review the backlog", role="PO",
            constraints=pb.BacklogReviewTaskConstraints(story_id="story-2"),
            agents=[pb.Agent(id="po1", role="PO", model="m1")],
            vllm_url=plan["model_server"], vllm_model="judge")
        results["backlog"] = outcome(stub.ExecuteBacklogReviewDeliberation, backlog, auth)

        if results["execute"]["code"] == "OK":
            delib_id = results["execute"]["response"]["deliberation_id"]
            results["status"] = outcome(stub.GetDeliberationStatus, pb.GetDeliberationStatusRequest(deliberation_id=delib_id),
                                        auth, lambda m: {"has_result": m.HasField("result")})
        results["status_unknown"] = outcome(
            stub.GetDeliberationStatus, pb.GetDeliberationStatusRequest(deliberation_id=plan["unknown_id"]), auth)

        results["stats"] = outcome(stub.GetStatus, pb.GetStatusRequest(include_stats=True), auth)
        results["stats_bare"] = outcome(stub.GetStatus, pb.GetStatusRequest(include_stats=False), auth,
                                        lambda m: {"has_stats": m.HasField("stats")})

        pages, token = [], ""
        while len(pages) < 100:
            r = outcome(stub.GetActiveJobs, pb.GetActiveJobsRequest(page_size=1, page_token=token), auth)
            pages.append(r)
            if r["code"] != "OK":
                break
            token = r["response"].get("next_page_token", "")
            if not token:
                break
        results["job_pages"] = pages

        invalid = pb.ExecuteDeliberationRequest(
            task_id="", task_description="x", role="DEV", constraints=pb.TaskConstraints(story_id="s"),
            agents=[pb.Agent(id="", role="DEV", model="m1")], vllm_url=plan["model_server"], vllm_model="judge")
        results["invalid"] = outcome(stub.ExecuteDeliberation, invalid, auth)
        results["no_token"] = outcome(stub.GetStatus, pb.GetStatusRequest(include_stats=True))

        # gRPC health without a generated stub or a token: HealthCheckRequest{} is empty bytes, and
        # HealthCheckResponse{status: SERVING} is 08 01.
        check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                    request_serializer=lambda _: b"", response_deserializer=lambda b: b)
        try:
            results["health"] = check(None, timeout=TIMEOUT).hex()
        except grpc.RpcError as error:
            results["health"] = error.code().name

    with grpc.insecure_channel(plan["stats_only"], options=options) as channel:
        stub = pb_grpc.RayExecutorServiceStub(channel)
        results["elsewhere_execute"] = outcome(stub.ExecuteDeliberation, execute, auth)
        results["elsewhere_stats"] = outcome(stub.GetStatus, pb.GetStatusRequest(include_stats=True), auth)

    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
