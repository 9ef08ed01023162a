"""Task files of every role and playbook: a ``set_fact`` never takes its value from a task variable of the
same name. Facts set earlier in the run outrank task variables (Ansible's variable precedence), so such a
task silently reads the stale fact the second time it runs in one play: the front proxy's switch once
picked the serving release's port as the "idle" one that way (a rollout's switch back, or an engine role
run twice in one play), and a refused release then replaced the serving one."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import yaml

REPO = Path(__file__).resolve().parents[3]
SET_FACT = ("ansible.builtin.set_fact", "set_fact")


def tasks_of(node: Any) -> Iterator[dict[str, Any]]:
    """Every task in a task list or a playbook, blocks and their rescue/always included."""
    if isinstance(node, list):
        for item in node:
            yield from tasks_of(item)
    elif isinstance(node, dict):
        for key in ("tasks", "pre_tasks", "post_tasks", "handlers", "block", "rescue", "always"):
            if key in node:
                yield from tasks_of(node[key])
        if not any(key in node for key in ("tasks", "block", "hosts", "import_playbook")):
            yield node


def shadowed(task: dict[str, Any]) -> set[str]:
    """Names a set_fact task sets from a task variable of the same name."""
    facts = next((task[key] for key in SET_FACT if key in task), None)
    local = task.get("vars")
    if not isinstance(facts, dict) or not isinstance(local, dict):
        return set()
    return set(facts) & set(local)


def test_shadowed_names_are_found() -> None:
    task = {"name": "t", "ansible.builtin.set_fact": {"x": "{{ x }}", "y": 1}, "vars": {"x": "{{ z }}"}}
    assert shadowed(task) == {"x"}
    assert shadowed({"name": "t", "ansible.builtin.set_fact": {"y": 1}, "vars": {"x": 1}}) == set()
    play = [{"hosts": "all", "tasks": [{"block": [task], "rescue": []}]}]
    assert [t["name"] for t in tasks_of(play)] == ["t"]


def test_no_set_fact_reads_a_task_variable_of_its_own_name() -> None:
    files = sorted(REPO.glob("roles/*/tasks/*.yml")) + sorted(REPO.glob("playbooks/*.yml"))
    assert len(files) > 50
    found = [f"{path.relative_to(REPO)}: {task.get('name')}: {sorted(names)}"
             for path in files for task in tasks_of(yaml.safe_load(path.read_text()))
             if (names := shadowed(task))]
    assert found == []
