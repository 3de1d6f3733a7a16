"""``cli.migration``: the plan of ``choreo-controller migrate`` over plain objects, and its diff."""

from choreo_controller.cli.migration import diff, plan

API = "openchoreo.dev/v1alpha1"
CA = {"clusterAgent": {"clientCA": {"value": "PEM"}}}


def obj(kind, name, namespace=None, rv="1", **spec):
    meta = {"name": name, "resourceVersion": rv}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": API, "kind": kind, "metadata": meta, "spec": spec}


def world(**extra):
    objects = {
        "BuildPlane": [obj("BuildPlane", "default", "team-a", planeID="ci", **CA)],
        "ClusterBuildPlane": [obj("ClusterBuildPlane", "shared", **CA)],
        "WorkflowPlane": [],
        "ClusterWorkflowPlane": [],
        "Workflow": [
            obj("Workflow", "refless", "team-a", runTemplate={}),
            obj("Workflow", "pinned", "team-a", runTemplate={}, buildPlaneRef={"kind": "ClusterBuildPlane", "name": "shared"}),
            obj("Workflow", "modern", "team-a", runTemplate={}, workflowPlaneRef={"kind": "WorkflowPlane", "name": "x"}),
            obj("Workflow", "homeless", "team-b", runTemplate={}),
        ],
        "ClusterWorkflow": [obj("ClusterWorkflow", "docker", runTemplate={})],
    }  # fmt: skip
    return objects | extra


def titles(planned):
    return [change.title for change in planned.changes]


def test_everything_moves_and_the_0_17_planes_stay():
    planned = plan(world())
    assert [
        "create WorkflowPlane team-a/default",
        "create ClusterWorkflowPlane shared",
        "patch Workflow team-a/pinned",
        "patch Workflow team-a/refless",
    ] == titles(planned)
    assert ([], []) == (planned.conflicts, planned.kept)
    patches = {c.title: c.patch for c in planned.changes if c.patch}
    assert {
        "patch Workflow team-a/pinned": {
            "metadata": {"resourceVersion": "1"},
            "spec": {
                "workflowPlaneRef": {"kind": "ClusterWorkflowPlane", "name": "shared"},
                "buildPlaneRef": None,
            },
        },
        "patch Workflow team-a/refless": {  # resolved to BuildPlane default today: pinned to its copy
            "metadata": {"resourceVersion": "1"},
            "spec": {"workflowPlaneRef": {"kind": "WorkflowPlane", "name": "default"}},
        },
    } == patches


def test_the_copy_keeps_the_spec_and_says_where_it_came_from():
    created = plan(world()).changes[0].after
    assert {
        "apiVersion": API,
        "kind": "WorkflowPlane",
        "metadata": {
            "name": "default",
            "namespace": "team-a",
            "annotations": {"openchoreo.dev/migrated-from": "BuildPlane/team-a/default"},
        },
        "spec": {"planeID": "ci", **CA},
    } == created


def test_a_second_run_changes_nothing():
    first = plan(world())
    applied = world()
    for change in first.changes:
        kind = change.after["kind"]
        applied[kind] = [
            o for o in applied[kind] if o["metadata"]["name"] != change.after["metadata"]["name"]
        ]
        applied[kind].append(change.after)
    second = plan(applied)
    assert ([], ["WorkflowPlane team-a/default exists with the same spec",
                 "ClusterWorkflowPlane shared exists with the same spec"]) == (titles(second), second.kept)  # fmt: skip


def test_a_different_1x_plane_of_that_name_is_a_conflict_and_nothing_moves_onto_it():
    other = obj("WorkflowPlane", "default", "team-a", planeID="elsewhere", **CA)
    planned = plan(world(WorkflowPlane=[other]))
    assert ["create ClusterWorkflowPlane shared", "patch Workflow team-a/pinned"] == titles(planned)
    expected = (
        "WorkflowPlane team-a/default exists with another spec than its BuildPlane; neither it nor the "
        "Workflows using that plane are changed"
    )
    assert [expected] == planned.conflicts


def test_one_namespace_at_a_time():
    planned = plan(world(), frozenset({"team-a"}))
    assert [
        "create WorkflowPlane team-a/default",
        "create ClusterWorkflowPlane shared",  # used by team-a's pinned Workflow
        "patch Workflow team-a/pinned",
        "patch Workflow team-a/refless",
    ] == titles(planned)
    elsewhere = plan(world(), frozenset({"team-b"}))
    assert ([], []) == (titles(elsewhere), elsewhere.conflicts)  # homeless resolves to nothing: left alone


def test_the_diff_of_a_patch_shows_the_reference_moving():
    change = next(c for c in plan(world()).changes if c.title == "patch Workflow team-a/pinned")
    assert (
        "--- Workflow team-a/pinned\n"
        "+++ Workflow team-a/pinned\n"
        "@@ -5,6 +5,6 @@\n"
        "   namespace: team-a\n"
        " spec:\n"
        "   runTemplate: {}\n"
        "-  buildPlaneRef:\n"
        "-    kind: ClusterBuildPlane\n"
        "+  workflowPlaneRef:\n"
        "+    kind: ClusterWorkflowPlane\n"
        "     name: shared\n"
    ) == diff(change)
