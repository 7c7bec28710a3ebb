#!/usr/bin/env python3
"""An independent gRPC client (Python grpcio) calling a Tollgate service cold: it compiles the
.proto files it is given with grpc_tools, then calls grpc.health.v1 Health/Check, lists services
through server reflection, and calls tollgate.authz.v1.AuthzService/Authenticate.

usage: grpc_cold_call.py ADDRESS TOKEN PROTO_ROOT HEALTH_PROTO REFLECTION_PROTO
Prints one JSON object."""
import importlib
import json
import os
import sys
import tempfile

import grpc
from grpc_tools import protoc


def compile_protos(out, includes, files):
    args = ["protoc"] + [f"-I{i}" for i in includes] + [f"--python_out={out}", f"--grpc_python_out={out}"] + files
    if protoc.main(args) != 0:
        raise SystemExit(f"protoc failed for {files}")


def main():
    address, token, proto_root, health_proto, reflection_proto = sys.argv[1:6]
    out = tempfile.mkdtemp(prefix="tollgate-py-")
    wkt = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    compile_protos(out, [proto_root, wkt], [os.path.join(proto_root, "tollgate/authz/v1/authz.proto")])
    compile_protos(out, [os.path.dirname(health_proto)], [health_proto])
    compile_protos(out, [os.path.dirname(reflection_proto)], [reflection_proto])
    sys.path.insert(0, out)
    health_pb2 = importlib.import_module("health_pb2")
    health_grpc = importlib.import_module("health_pb2_grpc")
    refl_pb2 = importlib.import_module("reflection_pb2")
    refl_grpc = importlib.import_module("reflection_pb2_grpc")
    authz_pb2 = importlib.import_module("tollgate.authz.v1.authz_pb2")
    authz_grpc = importlib.import_module("tollgate.authz.v1.authz_pb2_grpc")

    channel = grpc.insecure_channel(address)
    result = {}
    status = health_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="tollgate.authz.v1.AuthzService"), timeout=5)
    result["health"] = health_pb2.HealthCheckResponse.ServingStatus.Name(status.status)
    responses = refl_grpc.ServerReflectionStub(channel).ServerReflectionInfo(iter([refl_pb2.ServerReflectionRequest(list_services="*")]), timeout=5)
    result["services"] = sorted(s.name for r in responses for s in r.list_services_response.service)
    authz = authz_grpc.AuthzServiceStub(channel)
    ok = authz.Authenticate(authz_pb2.AuthenticateRequest(bearer=token), timeout=5)
    result["authenticate"] = {"allowed": ok.allowed, "reason": ok.reason, "account_id": ok.principal.account_id}
    try:
        authz.Authorize(authz_pb2.AuthorizeRequest(action="publish", resource="mqtt:x"), timeout=5)
        result["invalid"] = None
    except grpc.RpcError as e:
        result["invalid"] = {"code": e.code().name, "details": e.details()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
