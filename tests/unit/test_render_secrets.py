"""A secret in an external ref never reaches an error message, a traceback or a log line."""

import logging
import traceback

import pytest

from choreo_controller.render import RenderError, render_run

SECRET = "ghp_S3cr3tT0kenValue0123456789abcdef"
REFS = {
    "git": {
        "metadata": {"name": "creds", "namespace": "ns"},
        "spec": {"token": SECRET, "data": {"username": "bot"}, "list": list(range(100)), "n": 0},
    }
}
RUN = {"metadata": {"name": "run-1", "namespace": "ns", "uid": "u"}}
TOKEN = "externalRefs['git'].spec.token"


def workflow(value=None, name="${metadata.workflowRunName}", include_when=None, extra=None):
    template = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"v": value} | (extra or {}),
    }
    spec = {"runTemplate": template}
    if include_when is not None:
        spec["resources"] = [{"id": "r", "includeWhen": include_when, "template": template}]
    return {"spec": spec}


CASES = [
    pytest.param(workflow(f"${{{TOKEN} + nosuch}}"), id="undeclared-reference-with-secret-in-activation"),
    pytest.param(
        workflow("${nosuch}", extra={"t": f"${{{TOKEN}}}"}), id="undeclared-reference-after-secret-used"
    ),
    pytest.param(workflow(f"${{{TOKEN} + 1}}"), id="overload"),
    pytest.param(workflow("${externalRefs['git'].spec.nope}"), id="missing-key-next-to-secret"),
    pytest.param(workflow(f"${{externalRefs['git'].spec.data[{TOKEN}]}}"), id="index-by-secret"),
    pytest.param(workflow(f"${{{{{TOKEN}: 1, {TOKEN}: 2}}}}"), id="duplicate-map-key-from-secret"),
    pytest.param(workflow(f"${{int({TOKEN})}}"), id="int-conversion-of-secret"),
    pytest.param(workflow(f"${{'x'.matches({TOKEN} + '(')}}"), id="bad-regex-from-secret"),
    pytest.param(workflow(f"${{{TOKEN}.substring(0, 999)}}"), id="function-error"),
    pytest.param(workflow(f"${{{TOKEN}.size() / externalRefs['git'].spec.n}}"), id="division-by-zero"),
    pytest.param(
        workflow(f"${{externalRefs['git'].spec.list.map(a, externalRefs['git'].spec.list.map(b, {TOKEN}))}}"),
        id="budget",
    ),
    pytest.param(workflow(f"x-${{{TOKEN} == '' ? 'a' : oc_omit()}}"), id="omit-in-interpolation"),
    pytest.param(workflow("v", include_when=f"${{{TOKEN}}}"), id="include-when-not-bool"),
    pytest.param(workflow("v", name=f"${{{TOKEN}}}"), id="invalid-name-from-secret"),
    pytest.param(workflow("v", extra={f"${{{TOKEN}}}": 1, f"${{{TOKEN} + ''}}": 2}), id="key-collision"),
    pytest.param(workflow({f"${{[{TOKEN}]}}": 1}), id="list-key"),
]


@pytest.mark.parametrize("wf", CASES)
def test_secret_absent_from_errors_tracebacks_and_logs(wf, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(RenderError) as caught:
        render_run(wf, RUN, REFS, None, parameters={})
    error = caught.value
    surfaces = [
        str(error),
        repr(error),
        error.message,
        error.detail,
        str(error.expression),
        "".join(traceback.format_exception(error)),
    ]
    surfaces += [record.getMessage() for record in caplog.records] + [
        repr(record.args) for record in caplog.records
    ]
    assert [] == [surface for surface in surfaces if SECRET in surface or SECRET[4:20] in surface]
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


def test_celpy_would_have_leaked_it():
    # The reason for all of the above: celpy's own message for an undeclared reference embeds the activation.
    import celpy  # noqa: PLC0415
    from celpy.adapter import json_to_cel  # noqa: PLC0415

    environment = celpy.Environment()
    program = environment.program(environment.compile("nosuch"))
    with pytest.raises(celpy.CELEvalError) as caught:
        program.evaluate({"externalRefs": json_to_cel(REFS)})
    assert SECRET in str(caught.value)
