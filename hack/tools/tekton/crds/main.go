// Command crds writes Tekton's release CRDs (config/300-crds/*.yaml) the way the local build plane installs
// them, as JSON into the directory given first:
//   - only the storage version of each CRD is served, and the conversion stanza is dropped: the release
//     serves its older versions (v1beta1, v1alpha1) through the conversion webhook, which the local plane
//     does not run. With the stanza kept, the apiserver's watch cache of every older version calls the
//     missing webhook for every object, in a hot loop; with conversion "None" instead, older-version
//     clients would silently read newer objects. Not serving them makes such a client fail with a 404.
//   - string "description"s (documentation) are dropped: three quarters of the size, and no behaviour but
//     kubectl explain's (a property named "description" is a schema, not a string, and stays).
//
// Usage: go run ./crds OUT_DIR CRD.yaml...
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) < 3 {
		log.Fatal("usage: crds OUT_DIR CRD.yaml...")
	}
	for _, path := range os.Args[2:] {
		if err := convert(path, os.Args[1]); err != nil {
			log.Fatalf("%s: %v", path, err)
		}
	}
}

func convert(path, outDir string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var crd map[string]any
	if err := yaml.Unmarshal(data, &crd); err != nil {
		return err
	}
	if crd["kind"] != "CustomResourceDefinition" {
		return fmt.Errorf("kind %v, want CustomResourceDefinition", crd["kind"])
	}
	spec, _ := crd["spec"].(map[string]any)
	versions, _ := spec["versions"].([]any)
	var storage []any
	for _, v := range versions {
		if version, _ := v.(map[string]any); version["storage"] == true && version["served"] == true {
			storage = append(storage, version)
		}
	}
	if len(storage) != 1 {
		return fmt.Errorf("%d served storage versions, want 1", len(storage))
	}
	spec["versions"] = storage
	delete(spec, "conversion")
	dropDescriptions(crd)
	out, err := json.Marshal(crd)
	if err != nil {
		return err
	}
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)) + ".json"
	return os.WriteFile(filepath.Join(outDir, name), out, 0o644)
}

func dropDescriptions(node any) {
	switch n := node.(type) {
	case map[string]any:
		if _, isDoc := n["description"].(string); isDoc {
			delete(n, "description")
		}
		for _, child := range n {
			dropDescriptions(child)
		}
	case []any:
		for _, child := range n {
			dropDescriptions(child)
		}
	}
}
