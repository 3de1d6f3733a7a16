"""The decision for every conformance case that does not simply match OpenChoreo (shared/conformance/README).

* ``KEEP_OURS``: OpenChoreo's behaviour is a bug or an accident there; the case asserts our documented
  outcome, kept in ``expected/<case>.json`` (the objects) or ``expected/<case>.error`` (stderr, exactly).
* ``UNKNOWN_PARAMETERS``: OpenChoreo renders them; so do we, and stderr carries one warning per path.
* ``FAILS_WITH``: OpenChoreo fails and so must we (``both-error``); the reason we give, so the failure
  stays specific. The message itself is checked by the unit tests of each reason.

Every other case must equal ``openchoreo.json`` under the README's rules.
"""

from __future__ import annotations

# case -> the README row that decides it
KEEP_OURS: dict[str, str] = {
    "e02-null": "null rendering",
    "e03-numbers-provided": "integers supplied in the run stay integers",
    "e05-int-arith-provided": "integers supplied in the run stay integers",
    "e09-flow-strings": "strings that parse as JSON arrays (beyond: schema-aware)",
    "e15a-annotations-context": "metadata.annotations in the context",
    "e15b-buildplane-context": "buildplane in the context",
    "e17-oc-name-divergences": "oc_dns_label/oc_generate_name fixes",
    "e18-oc-generate-name-empty": "oc_generate_name fixes",
    "e19-oc-omit-interp": "oc_omit fixes",
    "e20b-dollar-dollar": "$${",
    "e20c-unclosed": "unclosed ${",
    "e20d-sequential-replace": "one-pass interpolation",
    "e20e-comment-brace": "} in CEL comments",
    "e22b-dynamic-key-int": "int or omitted dynamic keys",
    "e22c-dynamic-key-omit": "int or omitted dynamic keys",
    "e22d-duplicate-keys": "duplicate keys",
    "e25b-wrong-type": "wrong type, enum miss, missing required",
    "e25c-enum-miss": "wrong type, enum miss, missing required",
    "e27b-externalref-none-resolved": "no externalRefs when all skipped",
    "e29a-no-namespace": "forced namespace and workflow-sa",
    "e29b-no-service-account": "forced namespace and workflow-sa",
    "e30-namespace-override": "forced namespace and workflow-sa",
    "e31-fn-string-of-list": "string(list) may keep working",
    "e34a-timestamp": "text of timestamps/durations/bytes",
    "e34b-duration": "text of timestamps/durations/bytes",
    "e34c-bytes": "text of timestamps/durations/bytes",
    "e39-literal-arg-values": "integers supplied in the run stay integers",
    "e40-long-run-name": "name and label-value checks",
    "e41-uppercase-name": "name and label-value checks",
    "s19-bulk-release-a-readme-all": "wrong type, enum miss, missing required",
}

# case -> the unknown parameter paths the CLI must warn about
UNKNOWN_PARAMETERS: dict[str, tuple[str, ...]] = {
    "e25a-unknown-param-used": ("parameters.extra",),
    "s10-gs-docker-a-samplerun": ("parameters.scope",),
    "s11-gs-ballerina-buildpack-a-samplerun": ("parameters.scope",),
    "s12-gs-google-cloud-buildpacks-a-samplerun": ("parameters.scope",),
    "s13-gs-react-a-samplerun": ("parameters.scope",),
}

# case -> the reason of our failure where OpenChoreo fails too
FAILS_WITH: dict[str, str] = {
    "e11a-includewhen-literal": "InvalidTemplate",
    "e11b-includewhen-string": "RenderFailed",
    "e11c-includewhen-interp": "InvalidTemplate",
    "e12b-skip-empty-name": "RenderFailed",
    "e14-labels-missing-key": "RenderFailed",
    "e28-externalref-missing": "ExternalRefNotFound",
    "e42-yaml-bool-keys": "RenderFailed",
    "s10-gs-docker-d-noobj": "InvalidParameters",
    "s11-gs-ballerina-buildpack-d-noobj": "InvalidParameters",
    "s12-gs-google-cloud-buildpacks-d-noobj": "InvalidParameters",
    "s13-gs-react-d-noobj": "InvalidParameters",
    "s14-ci-docker-a-samplerun": "InvalidParameters",
    "s15-ci-google-cloud-buildpacks-a-samplerun": "InvalidParameters",
    "s16-ci-react-a-samplerun": "InvalidParameters",
    "s17-ci-docker-d-readmerun": "InvalidParameters",
    "s18-generic-stats-d-noparams": "InvalidParameters",
    "s20-config-sample-a-verbatim": "InvalidInput",
    "s20-config-sample-b-named": "InvalidTemplate",
}
