"""slm_site_cache / slm_cache_image_ref: where a site's hosts find the cache, and an image's name in its registry."""

import pytest

from ansible_collections.edgeai.slm_fleet.plugins.filter.slm_site_cache import slm_cache_image_ref, slm_site_cache

IMAGE_ID = "sha256:3f2a9c1b7e4d" + "0" * 52


def test_no_cache_host_means_no_cache():
    assert slm_site_cache({"gw-01": {}}, []) == {}
    assert slm_site_cache({}, None) == {}


def test_coordinates_come_from_the_cache_hosts_inventory_variables():
    hostvars = {"cache-01": {"site_cache_address": "10.1.0.5", "site_cache_files_port": 8088,
                             "site_cache_root": "/srv/cache/", "ansible_host": "192.0.2.9"}}
    cache = slm_site_cache(hostvars, ["cache-01"])
    assert cache == {"name": "cache-01", "hosts": ["cache-01"], "address": "10.1.0.5", "registry": "10.1.0.5:5000",
                     "files_url": "http://10.1.0.5:8088", "root": "/srv/cache", "models_dir": "/srv/cache/models",
                     "incoming_dir": "/srv/cache/incoming"}


def test_address_falls_back_to_ansible_host_then_the_name_and_ipv6_is_bracketed():
    assert slm_site_cache({"c": {"ansible_host": "10.0.0.7"}}, ["c"])["registry"] == "10.0.0.7:5000"
    assert slm_site_cache({}, ["cache.site.example"])["files_url"] == "http://cache.site.example:8080"
    assert slm_site_cache({"c": {"site_cache_address": "fd00::5"}}, ["c"])["registry"] == "[fd00::5]:5000"


def test_every_cache_host_is_listed_so_that_callers_can_refuse_two():
    assert slm_site_cache({}, ["a", "b"])["hosts"] == ["a", "b"]


@pytest.mark.parametrize("ref, path", [("slm-fleet/slm-engine:0.1.0", "slm-fleet/slm-engine"),
                                       ("registry.example:5000/vllm/vllm-openai:v0.9", "vllm/vllm-openai"),
                                       ("localhost/x:1", "x"),
                                       ("busybox", "busybox"),
                                       ("slm-fleet/x@sha256:" + "a" * 64, "slm-fleet/x")])
def test_image_keeps_its_path_and_is_tagged_with_its_id(ref, path):
    got = slm_cache_image_ref(ref, "10.1.0.5:5000", IMAGE_ID)
    assert got == {"repository": f"10.1.0.5:5000/{path}", "tag": "3f2a9c1b7e4d", "path": path,
                   "ref": f"10.1.0.5:5000/{path}:3f2a9c1b7e4d"}


def test_an_id_that_is_not_a_sha256_is_refused():
    with pytest.raises(ValueError, match="not a sha256 image id"):
        slm_cache_image_ref("x:1", "r:5000", "latest")
