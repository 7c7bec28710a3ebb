#!/usr/bin/env python3
"""Resolves every service a gRPC server lists through server reflection (v1) the way `buf curl
--list-methods` and grpcurl do: asks for the file containing each service, then builds a
protobuf DescriptorPool from the returned FileDescriptorProtos (dependencies first). A malformed
descriptor (e.g. "map_entry should not be set explicitly") fails the build here as it does there.

usage: reflection_descriptors.py ADDRESS REFLECTION_PROTO
Prints one JSON object: {"services": {NAME: [METHOD, ...]}} or {"error": MESSAGE} (exit 1)."""
import importlib
import json
import os
import sys
import tempfile

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_tools import protoc


def main():
    address, reflection_proto = sys.argv[1:3]
    out = tempfile.mkdtemp(prefix="tollgate-refl-")
    args = ["protoc", f"-I{os.path.dirname(reflection_proto)}", f"--python_out={out}", f"--grpc_python_out={out}", reflection_proto]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    sys.path.insert(0, out)
    refl_pb2 = importlib.import_module("reflection_pb2")
    refl_grpc = importlib.import_module("reflection_pb2_grpc")
    stub = refl_grpc.ServerReflectionStub(grpc.insecure_channel(address))

    def ask(request):
        return list(stub.ServerReflectionInfo(iter([request]), timeout=5))[0]

    names = [s.name for s in ask(refl_pb2.ServerReflectionRequest(list_services="*")).list_services_response.service]
    files = {}
    for name in names:
        response = ask(refl_pb2.ServerReflectionRequest(file_containing_symbol=name))
        for raw in response.file_descriptor_response.file_descriptor_proto:
            proto = descriptor_pb2.FileDescriptorProto.FromString(raw)
            files[proto.name] = proto
    pool = descriptor_pool.DescriptorPool()
    added = set()

    def add(file_name):
        if file_name in added:
            return
        proto = files.get(file_name)
        if proto is None:
            raise LookupError(f"{file_name}: not served by reflection")
        for dependency in proto.dependency:
            add(dependency)
        pool.Add(proto)
        added.add(file_name)

    try:
        for file_name in sorted(files):
            add(file_name)
        services = {name: [m.name for m in pool.FindServiceByName(name).methods] for name in names if name != "grpc.reflection.v1.ServerReflection" and name != "grpc.reflection.v1alpha.ServerReflection"}
    except Exception as error:  # the pool's own message is what the test shows
        print(json.dumps({"error": f"{type(error).__name__}: {error}"}))
        sys.exit(1)
    print(json.dumps({"services": services}))


if __name__ == "__main__":
    main()
