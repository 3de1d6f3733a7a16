// Replaces ESO's pkg/provider/register/register.go (v0.16.2) in the local build plane's build
// (hack/build-binaries.sh): the providers compiled in are the ones imported here. The local build plane's
// ClusterSecretStore uses ESO's Kubernetes provider only.
package register

import (
	_ "github.com/external-secrets/external-secrets/pkg/provider/kubernetes"
)
