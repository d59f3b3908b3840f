"""Read this VM's metadata with cloud-init's own code (Debian's package), print JSON.

Run inside a VM namespace with Debian's /usr/bin/python3:
  cloudinit_read.py ec2        DataSourceEc2 as off AWS: no tokens, dated versions
  cloudinit_read.py ec2-aws    DataSourceEc2 as on AWS: IMDSv2 tokens, identity document
  cloudinit_read.py openstack  the OpenStack MetadataReader, and its network config
Nothing is written outside a temporary directory.
"""

import json
import sys
import tempfile

from cloudinit import helpers
from cloudinit.sources import DataSourceEc2
from cloudinit.sources.helpers import openstack

URL = "http://169.254.169.254"


def read_ec2(on_aws: bool) -> dict:
    tmp = tempfile.mkdtemp()
    paths = helpers.Paths({"cloud_dir": tmp, "run_dir": tmp})
    wait = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    cfg = {"datasource": {"Ec2": {"metadata_urls": [URL], "max_wait": wait, "timeout": 5}}}
    source = DataSourceEc2.DataSourceEc2(cfg, distro=None, paths=paths)
    if on_aws:
        source._cloud_name = DataSourceEc2.CloudNames.AWS  # what DMI tells it on EC2
    ok = source.get_data()
    crawled = getattr(source, "_crawled_metadata", {}) or {}
    return {"ok": ok, "metadata": source.metadata,
            "user_data": (source.get_userdata_raw() or b"").decode(),
            "user_data_parts": [part.get_content_type()
                                for part in source.get_userdata().walk()] if ok else [],
            "instance_id": source.get_instance_id() if ok else None,
            "identity": getattr(source, "identity", None),
            "api_version": crawled.get("_metadata_api_version"),
            "hostname": source.get_hostname().hostname if ok else None,
            "public_keys": source.get_public_ssh_keys() if ok else None,
            "availability_zone": source.availability_zone if ok else None,
            "region": source.region if ok else None}


def read_openstack() -> dict:
    reader = openstack.MetadataReader(URL, timeout=5, retries=0)
    result = reader.read_v2()
    network = openstack.convert_net_json(result.get("networkdata"))
    source = {"metadata": result["metadata"], "user_data": result["userdata"].decode()
              if isinstance(result["userdata"], bytes) else result["userdata"],
              "network_config": network, "version": reader._find_working_version(),
              "ec2_metadata": result.get("ec2-metadata")}
    return source


if __name__ == "__main__":
    mode = sys.argv[1]
    out = read_openstack() if mode == "openstack" else read_ec2(mode == "ec2-aws")
    print(json.dumps(out, default=str))
