"""Settings from the environment: upstream's names, boolean forms and defaults."""

from __future__ import annotations

import pytest

from nm_cloud_setup.config import Settings, normalize_mac
from nm_cloud_setup.planning.tables import Tables


@pytest.mark.parametrize("value, enabled", [
    ("yes", True), ("YES", True), ("y", True), ("true", True), ("True", True), ("1", True),
    ("no", False), ("n", False), ("false", False), ("0", False), ("", False),
])
def test_provider_booleans(value, enabled):
    settings = Settings.from_env({"NM_CLOUD_SETUP_EC2": value})
    assert ("ec2" in settings.enabled) is enabled
    assert settings.warnings == ()


def test_digitalocean_hetzner_their_hosts_and_the_dmi_directory():
    settings = Settings.from_env({
        "NM_CLOUD_SETUP_DIGITALOCEAN": "yes", "NM_CLOUD_SETUP_HETZNER": "on",
        "NM_CLOUD_SETUP_DIGITALOCEAN_HOST": "http://127.0.0.1:8001/",
        "NM_CLOUD_SETUP_HETZNER_HOST": "http://127.0.0.1:8002",
        "NM_CLOUD_SETUP_DMI_DIR": "/tmp/dmi"})
    assert settings.enabled == ("digitalocean", "hetzner") and settings.warnings == ()
    assert settings.hosts == {"digitalocean": "http://127.0.0.1:8001",
                              "hetzner": "http://127.0.0.1:8002"}
    assert settings.dmi_dir == "/tmp/dmi"
    assert Settings.from_env({}).dmi_dir == "/sys/class/dmi/id"


def test_all_providers_off_by_default():
    assert Settings.from_env({}).enabled == ()
    assert Settings.from_env({}).log_level == "WARN"


def test_malformed_boolean_warns_naming_variable_and_value():
    settings = Settings.from_env({"NM_CLOUD_SETUP_AZURE": "maybe"})
    assert settings.enabled == ()
    assert len(settings.warnings) == 1
    assert 'NM_CLOUD_SETUP_AZURE="maybe"' in settings.warnings[0]
    assert "default (no)" in settings.warnings[0]


@pytest.mark.parametrize("raw, level", [
    ("TRACE", "TRACE"), ("debug", "DEBUG"), ("info", "INFO"), ("WARN", "WARN"),
    ("warning", "WARN"), ("ERR", "ERR"), ("error", "ERR"), ("OFF", "OFF"), ("", "WARN"),
])
def test_log_levels(raw, level):
    assert Settings.from_env({"NM_CLOUD_SETUP_LOG": raw}).log_level == level


def test_bad_log_level_warns():
    settings = Settings.from_env({"NM_CLOUD_SETUP_LOG": "loud"})
    assert settings.log_level == "WARN"
    assert 'NM_CLOUD_SETUP_LOG="loud"' in settings.warnings[0]


def test_host_override():
    settings = Settings.from_env({"NM_CLOUD_SETUP_EC2_HOST": "http://127.0.0.1:8000/"})
    assert settings.hosts == {"ec2": "http://127.0.0.1:8000"}
    bad = Settings.from_env({"NM_CLOUD_SETUP_EC2_HOST": "ftp://x/y z"})
    assert bad.hosts == {} and "NM_CLOUD_SETUP_EC2_HOST" in bad.warnings[0]


def test_map_interfaces():
    settings = Settings.from_env(
        {"NM_CLOUD_SETUP_MAP_INTERFACES": "eth0=aa:bb:cc:dd:ee:ff; eth1=00-11-22-33-44-55;bad"})
    assert settings.map_interfaces == {"eth0": "AA:BB:CC:DD:EE:FF", "eth1": "00:11:22:33:44:55"}
    assert len(settings.warnings) == 1 and '"bad"' in settings.warnings[0]


def test_allow_new_conn_defaults_per_provider():
    assert Settings.from_env({}).allow_new_conn is None
    assert Settings.from_env({"NM_CLOUD_SETUP_ALLOW_NEW_CONN": "no"}).allow_new_conn is False


def test_bus_selection():
    env = {"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/s", "DBUS_SESSION_BUS_ADDRESS": "unix:path=/u"}
    assert Settings.from_env(env).bus_address == "unix:path=/s"
    session = Settings.from_env({**env, "LIBNM_USE_SESSION_BUS": "1"})
    assert session.session_bus and session.bus_address == "unix:path=/u"


@pytest.mark.parametrize("text, mac", [
    ("000D3A5D2D66", "00:0D:3A:5D:2D:66"), ("0a:1b:2c:3d:4e:5f", "0A:1B:2C:3D:4E:5F"),
    ("0a-1b-2c-3d-4e-5f", "0A:1B:2C:3D:4E:5F"), ("0a:1b:2c:3d:4e", None), ("zz" * 6, None),
    ("", None), ("0a:1b:2c:3d:4e:5f:60", None),
])
def test_normalize_mac(text, mac):
    assert normalize_mac(text) == mac


@pytest.mark.parametrize("raw, prefixes", [
    (None, None), ("yes", "local"), ("no", None), ("local", "local"), ("Rules", "rules"),
    ("1", "local"), ("off", None)])
def test_ec2_delegated_prefixes_are_off_unless_asked_for(raw, prefixes):
    env = {} if raw is None else {"NM_CLOUD_SETUP_EC2_PREFIXES": raw}
    assert Settings.from_env(env).options["ec2"]["prefixes"] is prefixes


def test_the_routing_layout_is_upstreams_unless_moved():
    assert Settings.from_env({}).tables == Tables()
    moved = Settings.from_env({"NM_CLOUD_SETUP_TABLE_SUBNET": "1200",
                               "NM_CLOUD_SETUP_PRIORITY_SUBNET": "1000",
                               "NM_CLOUD_SETUP_RULES": "ipv4", "NM_CLOUD_SETUP_ADDRESSES": "no"})
    assert moved.errors == ()
    assert moved.tables == Tables(subnet=1200, subnet_priority=1000, routing=frozenset({4}),
                                  addresses=False)
    assert Settings.from_env({"NM_CLOUD_SETUP_RULES": "none"}).tables.routing == frozenset()


@pytest.mark.parametrize("env, error", [
    ({"NM_CLOUD_SETUP_TABLE_DEFAULT": "30250"}, "the subnet tables (30200-30299) and the "
                                                "default-route tables (30250-30349) overlap"),
    ({"NM_CLOUD_SETUP_TABLE_SUBNET": "eleven"}, 'NM_CLOUD_SETUP_TABLE_SUBNET="eleven" is not'),
    ({"NM_CLOUD_SETUP_RULES": "ipv5"}, 'NM_CLOUD_SETUP_RULES="ipv5" is not'),
    ({"NM_CLOUD_SETUP_EXCLUDE": "index:two"}, 'NM_CLOUD_SETUP_EXCLUDE: "index:two" is not'),
])
def test_a_layout_or_exclusion_that_cannot_be_used_refuses_the_run(env, error):
    assert any(error in e for e in Settings.from_env(env).errors)


def test_interface_ids_are_asked_of_ec2_only_for_an_id_selector():
    assert Settings.from_env({}).options["ec2"]["interface_ids"] is False
    env = {"NM_CLOUD_SETUP_EXCLUDE": "id:eni-1"}
    assert Settings.from_env(env).options["ec2"]["interface_ids"] is True


def test_ec2_delegated_prefixes_bad_value_warns():
    settings = Settings.from_env({"NM_CLOUD_SETUP_EC2_PREFIXES": "some"})
    assert settings.options["ec2"]["prefixes"] is None
    assert any("NM_CLOUD_SETUP_EC2_PREFIXES" in w for w in settings.warnings)
    assert Settings.from_env({"NM_CLOUD_SETUP_EC2_PREFIX_ADDRESSES": "yes"}).options["ec2"][
        "prefix_addresses"] is True


@pytest.mark.parametrize("env, enabled, cap, error", [
    ({}, True, None, None),
    ({"NM_CLOUD_SETUP_MTU": "no"}, False, None, None),
    ({"NM_CLOUD_SETUP_MTU": "yes", "NM_CLOUD_SETUP_MTU_MAX": " 8500 "}, True, 8500, None),
    ({"NM_CLOUD_SETUP_MTU_MAX": "1280"}, True, 1280, None),
    ({"NM_CLOUD_SETUP_MTU_MAX": "1279"}, True, None, "1280 to 65535"),
    ({"NM_CLOUD_SETUP_MTU_MAX": "65536"}, True, None, "1280 to 65535"),
    ({"NM_CLOUD_SETUP_MTU_MAX": "9k"}, True, None, 'NM_CLOUD_SETUP_MTU_MAX="9k"'),
])
def test_mtu_switch_and_cap(env, enabled, cap, error):
    settings = Settings.from_env(env)
    assert (settings.mtu, settings.mtu_max) == (enabled, cap)
    if error is None:
        assert not settings.errors
    else:
        assert len(settings.errors) == 1 and error in settings.errors[0]
