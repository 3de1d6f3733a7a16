// Replaces ESO's pkg/generator/register/register.go (v0.16.2) in the local build plane's build
// (hack/build-binaries.sh): no generator is compiled in (each one links a cloud SDK; none is used here).
package register
