"""The metadata answers (service/metadata.py): by source address, with tokens, and
forwarded requests refused."""

from __future__ import annotations

from nm_cloud_setup.service.metadata import MetadataService
from tests.support.vm_documents import vm


def test_metadata_by_source_tokens_and_forwarding(store):
    store.put("a", vm(user_data="a-data"))
    store.put("b", vm(mac="02:00:00:00:00:02", addresses=["10.0.0.6"]))
    service = MetadataService(store, "optional")
    ttl = {"X-aws-ec2-metadata-token-ttl-seconds": "60"}
    get = "/latest/meta-data/instance-id"
    assert service.handle("GET", get, {}, "10.0.0.7")[0] == 404  # nobody's
    assert service.handle("GET", "/", {}, "10.0.0.7")[0] == 404
    assert service.handle("GET", "/latest/user-data", {}, "10.0.0.5")[2] == b"a-data"
    assert service.handle("GET", "/latest/user-data", {}, "10.0.0.6")[0] == 404
    mac_a = "/latest/meta-data/network/interfaces/macs/02:00:00:00:00:01/local-ipv4s"
    assert service.handle("GET", mac_a, {}, "10.0.0.6")[0] == 404
    token_a = service.handle("PUT", "/latest/api/token", ttl, "10.0.0.5")[2].decode()
    with_a = {"X-aws-ec2-metadata-token": token_a}
    assert service.handle("GET", get, with_a, "10.0.0.5")[0] == 200
    assert service.handle("GET", get, with_a, "10.0.0.6")[0] == 401  # a's token, b asks
    assert service.handle("PUT", "/latest/api/token", {**ttl, "X-Forwarded-For": "10.0.0.6"},
                          "10.0.0.5")[0] == 403
    assert service.handle("PUT", "/latest/api/token", {}, "10.0.0.5")[0] == 400
    strict = MetadataService(store, "required")
    assert strict.handle("GET", get, {}, "10.0.0.5")[0] == 401
    assert strict.handle("GET", "/openstack/latest/meta_data.json", {}, "10.0.0.5")[0] == 401
    token = strict.handle("PUT", "/latest/api/token", ttl, "10.0.0.5")[2].decode()
    assert strict.handle("GET", get, {"X-aws-ec2-metadata-token": token}, "10.0.0.5")[0] == 200
