#!/usr/bin/env python3
"""An independent gRPC client (Python grpcio) calling Tollgate's foreign-contract services cold, as
Envoy and mosquitto-go-auth would: it compiles Tollgate's own .proto files with grpc_tools, then
calls envoy.service.auth.v3.Authorization/Check and grpc.AuthService on authz, and
envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit on quota. It decides nothing: it
reports what came back, and the vitest wrapper (adapters-grpcio.test.ts) asserts.

usage: adapters_cold_call.py PROTO_ROOT < config.json
config: {authz, quota, service_credential, master, acl_api, acl_mqtt, ip_token, jwt,
         account, other_account}
Prints one JSON object."""
import importlib
import json
import os
import sys
import tempfile

import grpc
from grpc_tools import protoc

ENVOY_PROTOS = [
    "google/rpc/status.proto",
    "envoy/config/core/v3/address.proto",
    "envoy/config/core/v3/base.proto",
    "envoy/type/v3/http_status.proto",
    "envoy/type/v3/ratelimit_unit.proto",
    "envoy/service/auth/v3/attribute_context.proto",
    "envoy/service/auth/v3/external_auth.proto",
    "envoy/extensions/common/ratelimit/v3/ratelimit.proto",
    "envoy/service/ratelimit/v3/rls.proto",
]


def compile_protos(out, includes, files):
    args = ["protoc"] + [f"-I{i}" for i in includes] + [f"--python_out={out}", f"--grpc_python_out={out}"] + files
    if protoc.main(args) != 0:
        raise SystemExit(f"protoc failed for {files}")


def error_of(e):
    return {"code": e.code().name, "details": e.details()}


def main():
    proto_root = sys.argv[1]
    cfg = json.load(sys.stdin)
    out = tempfile.mkdtemp(prefix="tollgate-py-adapters-")
    wkt = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    compile_protos(out, [proto_root, wkt], [os.path.join(proto_root, f) for f in ENVOY_PROTOS])
    # go-auth's package is `grpc`, which as a Python module path would shadow grpcio itself: the file
    # is compiled from its own directory (module `auth_pb2`); the service is still `grpc.AuthService`.
    compile_protos(out, [os.path.join(proto_root, "grpc"), wkt], [os.path.join(proto_root, "grpc", "auth.proto")])
    sys.path.insert(0, out)
    ext_pb2 = importlib.import_module("envoy.service.auth.v3.external_auth_pb2")
    ext_grpc = importlib.import_module("envoy.service.auth.v3.external_auth_pb2_grpc")
    attr_pb2 = importlib.import_module("envoy.service.auth.v3.attribute_context_pb2")
    addr_pb2 = importlib.import_module("envoy.config.core.v3.address_pb2")
    rls_pb2 = importlib.import_module("envoy.service.ratelimit.v3.rls_pb2")
    rls_grpc = importlib.import_module("envoy.service.ratelimit.v3.rls_pb2_grpc")
    rl_pb2 = importlib.import_module("envoy.extensions.common.ratelimit.v3.ratelimit_pb2")
    auth_pb2 = importlib.import_module("auth_pb2")
    auth_grpc = importlib.import_module("auth_pb2_grpc")
    empty_pb2 = importlib.import_module("google.protobuf.empty_pb2")
    wrappers_pb2 = importlib.import_module("google.protobuf.wrappers_pb2")

    result = {}

    # ---- Envoy ext_authz on authz -------------------------------------------------------------
    authz_channel = grpc.insecure_channel(cfg["authz"])
    authorization = ext_grpc.AuthorizationStub(authz_channel)

    def check(method="GET", path="/v1/things", authorization_header=None, source_ip="127.0.0.1", with_http=True):
        headers = {":authority": "api.example", ":method": method, ":path": path, "x-request-id": "r1"}
        if authorization_header is not None:
            headers["authorization"] = authorization_header
        source = attr_pb2.AttributeContext.Peer(
            address=addr_pb2.Address(socket_address=addr_pb2.SocketAddress(address=source_ip, port_value=50123))
        )
        request = attr_pb2.AttributeContext.Request(
            http=attr_pb2.AttributeContext.HttpRequest(id="r1", method=method, headers=headers, path=path, host="api.example", scheme="https", protocol="HTTP/1.1")
        ) if with_http else attr_pb2.AttributeContext.Request()
        try:
            res = authorization.Check(ext_pb2.CheckRequest(attributes=attr_pb2.AttributeContext(source=source, request=request)), timeout=5)
        except grpc.RpcError as e:
            return {"error": error_of(e)}
        which = res.WhichOneof("http_response")
        answer = {"code": res.status.code, "message": res.status.message, "http_response": which}
        if which == "ok_response":
            answer["headers"] = {h.header.key: h.header.value for h in res.ok_response.headers}
            answer["append_actions"] = sorted({h.append_action for h in res.ok_response.headers})
            answer["headers_to_remove"] = list(res.ok_response.headers_to_remove)
        elif which in ("denied_response", "error_response"):
            denied = getattr(res, which)
            answer["http_status"] = denied.status.code
            answer["headers"] = {h.header.key: h.header.value for h in denied.headers}
            answer["body"] = json.loads(denied.body) if denied.body else None
        return answer

    result["envoy_check"] = {
        "master_get": check(authorization_header=f"Bearer {cfg['master']}"),
        "master_post": check(method="POST", authorization_header=f"Bearer {cfg['master']}"),
        "acl_api_get": check(path="/public/items?page=2", authorization_header=f"Bearer {cfg['acl_api']}"),
        "acl_api_post": check(method="POST", path="/public/items", authorization_header=f"Bearer {cfg['acl_api']}"),
        "acl_without_api_rule": check(authorization_header=f"Bearer {cfg['acl_mqtt']}"),
        "missing": check(),
        "garbage": check(authorization_header="Bearer not-a-token"),
        "not_bearer": check(authorization_header=f"Basic {cfg['master']}"),
        "ip_allowed": check(authorization_header=f"Bearer {cfg['ip_token']}", source_ip="10.1.2.3"),
        "ip_refused": check(authorization_header=f"Bearer {cfg['ip_token']}", source_ip="192.168.0.9"),
        "jwt": check(authorization_header=f"Bearer {cfg['jwt']}"),
        "bad_path": check(path="no-slash", authorization_header=f"Bearer {cfg['master']}"),
        "no_http": check(with_http=False),
    }

    # ---- Envoy rate limit on quota ------------------------------------------------------------
    quota_channel = grpc.insecure_channel(cfg["quota"])
    ratelimit = rls_grpc.RateLimitServiceStub(quota_channel)
    service = [("authorization", f"Bearer {cfg['service_credential']}")]

    def descriptor(account, metric="api.requests", hits=None):
        entries = []
        if account is not None:
            entries.append(rl_pb2.RateLimitDescriptor.Entry(key="account", value=account))
        entries.append(rl_pb2.RateLimitDescriptor.Entry(key="metric", value=metric))
        d = rl_pb2.RateLimitDescriptor(entries=entries)
        if hits is not None:
            d.hits_addend.CopyFrom(wrappers_pb2.UInt64Value(value=hits))
        return d

    def should(descriptors, hits_addend=0, metadata=service):
        try:
            res = ratelimit.ShouldRateLimit(rls_pb2.RateLimitRequest(domain="tollgate", descriptors=descriptors, hits_addend=hits_addend), metadata=metadata, timeout=5)
        except grpc.RpcError as e:
            return {"error": error_of(e)}
        code = rls_pb2.RateLimitResponse.Code.Name
        unit = rls_pb2.RateLimitResponse.RateLimit.Unit.Name
        return {
            "overall_code": code(res.overall_code),
            "statuses": [
                {
                    "code": code(s.code),
                    "current_limit": {"name": s.current_limit.name, "requests_per_unit": s.current_limit.requests_per_unit, "unit": unit(s.current_limit.unit)} if s.HasField("current_limit") else None,
                    "limit_remaining": s.limit_remaining,
                    "duration_until_reset_ms": s.duration_until_reset.seconds * 1000 + s.duration_until_reset.nanos // 1_000_000,
                }
                for s in res.statuses
            ],
        }

    account, other = cfg["account"], cfg["other_account"]
    result["ratelimit"] = {
        "no_credential": should([descriptor(account)], metadata=None),
        "first": should([descriptor(account)]),
        # Request-level hits_addend applies to descriptors without their own.
        "second_two_hits": should([descriptor(account)], hits_addend=2),
        "third_over": should([descriptor(account)]),
        # Index-aligned: the other account (limit 5) first, the exhausted one second; nothing counted.
        "mixed": should([descriptor(other, hits=1), descriptor(account)]),
        # All 5 of the other account are still there: the refused request took none.
        "other_all_five": should([descriptor(other, hits=5)]),
        "missing_account": should([descriptor(None)]),
        "unknown_metric": should([descriptor(account, metric="api.nope")]),
        "unknown_account": should([descriptor("acc_0000000000000000000000")]),
    }

    # ---- mosquitto-go-auth gRPC on authz ------------------------------------------------------
    go_auth = auth_grpc.AuthServiceStub(authz_channel)

    def call(fn, request):
        try:
            res = fn(request, timeout=5)
        except grpc.RpcError as e:
            return {"error": error_of(e)}
        return {"ok": res.ok} if hasattr(res, "ok") else {"name": res.name} if hasattr(res, "name") else {}

    device = cfg["acl_mqtt"]
    acl = lambda topic, acc, username=device, clientid="c1": call(go_auth.CheckAcl, auth_pb2.CheckAclRequest(username=username, topic=topic, clientid=clientid, acc=acc))
    # Mosquitto has one topic space for every account: a topic names its account first,
    # `<account id>/<topic>` (TOLLGATE_SHARED_BROKER_NAMESPACE=account-prefix, the default).
    mine = lambda topic: f"{account}/{topic}"
    theirs = lambda topic: f"{other}/{topic}"
    result["go_auth"] = {
        "get_user": call(go_auth.GetUser, auth_pb2.GetUserRequest(username=device, password="", clientid="c1")),
        "get_user_token_as_password": call(go_auth.GetUser, auth_pb2.GetUserRequest(username="sensor-7", password=device, clientid="c7")),
        "get_user_bad": call(go_auth.GetUser, auth_pb2.GetUserRequest(username="tg_forged", password="x", clientid="c1")),
        "get_superuser": call(go_auth.GetSuperuser, auth_pb2.GetSuperuserRequest(username=device)),
        "read_own": acl(mine("devices/c1/temp"), 1),
        "write_own": acl(mine("devices/c1/temp"), 2),
        "read_write_own": acl(mine("devices/c1/temp"), 3),
        "subscribe_own": acl(mine("devices/c1/#"), 4),
        "subscribe_own_shared": acl(f"$share/g1/{mine('devices/c1/#')}", 4),
        "write_other": acl(mine("devices/c2/temp"), 2),
        "read_other": acl(mine("devices/c2/temp"), 1),
        "subscribe_too_wide": acl(mine("devices/#"), 4),
        "remembered_by_username_and_client": acl(mine("devices/c7/x"), 2, username="sensor-7", clientid="c7"),
        "same_username_other_client": acl(mine("devices/c8/x"), 2, username="sensor-7", clientid="c8"),
        # The same rule in another account's namespace, or with no account level at all.
        "write_other_account": acl(theirs("devices/c1/temp"), 2),
        "write_no_account": acl("devices/c1/temp", 2),
        # A master token has its whole namespace, and nothing past it.
        "master_subscribe_own_namespace": acl(mine("#"), 4, username=cfg["master"], clientid="m1"),
        "master_subscribe_everything": acl("#", 4, username=cfg["master"], clientid="m1"),
        "master_subscribe_any_account": acl("+/devices/#", 4, username=cfg["master"], clientid="m1"),
        "master_subscribe_other_account": acl(theirs("#"), 4, username=cfg["master"], clientid="m1"),
        "master_subscribe_sys": acl("$SYS/#", 4, username=cfg["master"], clientid="m1"),
        "acc_out_of_range": acl(mine("devices/c1/temp"), 9),
        "no_topic": acl("", 2),
        "name": call(go_auth.GetName, empty_pb2.Empty()),
        "halt": call(go_auth.Halt, empty_pb2.Empty()),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
