"""Read this VM's metadata with the PyPI clients: ``ec2-metadata`` and botocore's IMDS
fetchers (region, token flow).  Run inside a VM namespace; prints JSON."""

import json

import botocore.utils
from ec2_metadata import EC2Metadata


def read_ec2_metadata() -> dict:
    md = EC2Metadata()
    result = {}
    for name in ("account_id", "ami_id", "availability_zone", "instance_id", "instance_type",
                 "mac", "private_hostname", "private_ipv4", "public_ipv4", "region",
                 "instance_identity_document"):
        result[name] = getattr(md, name)
    result["public_keys"] = {n: k.openssh_key for n, k in md.public_keys.items()}
    result["user_data"] = md.user_data.decode() if md.user_data is not None else None
    result["interfaces"] = {
        mac: {"device_number": nic.device_number, "private_ipv4s": nic.private_ipv4s,
              "subnet_ipv4_cidr_block": nic.subnet_ipv4_cidr_block,
              "interface_id": nic.interface_id, "ipv6s": nic.ipv6s,
              "subnet_ipv6_cidr_blocks": nic.subnet_ipv6_cidr_blocks}
        for mac, nic in md.network_interfaces.items()}
    return result


def read_botocore() -> dict:
    region = botocore.utils.InstanceMetadataRegionFetcher(
        timeout=2, num_attempts=1).retrieve_region()
    fetcher = botocore.utils.IMDSFetcher(timeout=2, num_attempts=1)
    token = fetcher._fetch_metadata_token()
    return {"region": region, "token": bool(token)}


if __name__ == "__main__":
    print(json.dumps({"ec2_metadata": read_ec2_metadata(), "botocore": read_botocore()}))
