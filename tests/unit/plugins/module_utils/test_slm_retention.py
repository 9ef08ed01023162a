"""Which releases and model versions a host keeps."""

from ansible_collections.edgeai.slm_fleet.plugins.module_utils.slm_retention import retention


def rel(name, mtime, model):
    return {"name": name, "mtime": mtime, "model": model}


def mod(name, mtime):
    return {"name": name, "mtime": mtime}


def test_keeps_pinned_then_newest_and_their_models():
    releases = [rel("r1", 1, "m1"), rel("r2", 2, "m2"), rel("r3", 3, "m3"), rel("r4", 4, "m3")]
    models = [mod("m1", 1), mod("m2", 2), mod("m3", 3)]
    plan = retention(releases, models, pinned=["r4", "r3"], keep_releases=2, keep_models=2)
    assert plan == {"drop_releases": ["r2", "r1"], "drop_models": ["m1"]}


def test_an_old_pinned_release_keeps_its_old_model():
    # Rolled back: the serving release is the oldest; its model must survive.
    releases = [rel("old", 1, "m-old"), rel("new", 5, "m-new"), rel("mid", 3, "m-mid")]
    models = [mod("m-old", 1), mod("m-mid", 3), mod("m-new", 5)]
    plan = retention(releases, models, pinned=["old"], keep_releases=2, keep_models=2)
    assert plan["drop_releases"] == ["mid"]
    assert sorted(plan["drop_models"]) == ["m-mid"]


def test_models_in_use_are_kept_even_beyond_keep_models():
    releases = [rel("a", 1, "m1"), rel("b", 2, "m2"), rel("c", 3, "m3")]
    models = [mod("m1", 1), mod("m2", 2), mod("m3", 3)]
    plan = retention(releases, models, pinned=["a", "b", "c"], keep_releases=2, keep_models=1)
    assert plan == {"drop_releases": [], "drop_models": []}


def test_unknown_pins_and_unreadable_releases_are_harmless():
    releases = [rel("a", 1, None), rel("b", 2, "m2")]
    plan = retention(releases, [mod("m2", 2), mod("stray", 0)], pinned=["gone"], keep_releases=2, keep_models=1)
    assert plan == {"drop_releases": [], "drop_models": ["stray"]}
