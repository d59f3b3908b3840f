"""A VM's document checked (service/vms.py): each bad value named by its field, and
what a good one is normalised to."""

from __future__ import annotations

import pytest

from nm_cloud_setup.service.vms import VmError, check_vm
from tests.support.vm_documents import vm

BAD = [  # (body, field, status)
    ({"interfaces": []}, "interfaces", 400),
    ({**vm(), "colour": "red"}, "colour", 400),
    (vm(mac="02:00:00:00:00"), "interfaces[0].mac", 400),
    (vm(mac="03:00:00:00:00:01"), "interfaces[0].mac", 400),  # multicast
    (vm(addresses=["10.0.0.300"]), "interfaces[0].addresses[0]", 400),
    (vm(addresses=["10.0.1.5"]), "interfaces[0].addresses[0]", 400),  # outside its subnet
    (vm(addresses=["10.0.0.5", "10.0.0.5"]), "interfaces[0].addresses[1]", 400),
    (vm(subnet="10.0.0.0/33"), "interfaces[0].subnet", 400),
    (vm(ssh_keys="ssh-rsa AAAA"), "ssh_keys", 400),
    (vm(ssh_keys=["ssh-rsa AAAA\nssh-rsa BBBB"]), "ssh_keys[0]", 400),
    (vm(user_data=5), "user_data", 400),
    (vm(hostname="bad_host name"), "hostname", 400),
    (vm(public_ipv4="fd00::1"), "public_ipv4", 400),
    (vm(region="eu-west-1", availability_zone="us-east-1a"), "availability_zone", 400),
    ({"interfaces": [{"mac": "02:00:00:00:00:01", "subnet": "10.0.0.0/24",
                      "addresses": ["10.0.0.5"], "ipv6s": ["fd00::5"]}]},
     "interfaces[0].ipv6_subnet", 400),
    ({"interfaces": [{"mac": "02:00:00:00:00:01", "subnet": "10.0.0.0/24",
                      "addresses": ["10.0.0.5"]},
                     {"mac": "02:00:00:00:00:01", "subnet": "10.0.1.0/24",
                      "addresses": ["10.0.1.5"]}]}, "interfaces[1].mac", 400),
    ({"interfaces": [{"subnet": "10.0.0.0/24", "addresses": ["10.0.0.5"]}]},
     "interfaces[0].mac", 400),
    ([1, 2], None, 400),
]


@pytest.mark.parametrize("body,field,status", BAD, ids=[str(b[1]) for b in BAD])
def test_bad_vms_name_the_field(body, field, status):
    with pytest.raises(VmError) as err:
        check_vm(body)
    assert (err.value.field, err.value.status) == (field, status)


def test_a_vm_is_normalised_and_gets_an_instance_id():
    checked = check_vm(vm(mac="02:AA:00:00:00:01", ssh_keys=[" ssh-ed25519 AAAA a "]))
    assert checked["interfaces"][0] == {"mac": "02:aa:00:00:00:01", "device_number": 0,
                                        "subnet": "10.0.0.0/24", "addresses": ["10.0.0.5"]}
    assert checked["ssh_keys"] == ["ssh-ed25519 AAAA a"]
    assert checked["instance_id"].startswith("i-") and len(checked["instance_id"]) == 19
    int(checked["instance_id"][2:], 16)
