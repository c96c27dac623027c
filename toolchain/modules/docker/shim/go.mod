// The Terraform Docker provider keeps its code under internal/, which Go lets only packages
// under the provider's own module path import. This tiny module sits at such a path
// (github.com/terraform-providers/terraform-provider-docker is the path the provider's
// go.mod declares) and re-exports the constructor; the wrapper module replaces it with this folder.
module github.com/terraform-providers/terraform-provider-docker/shim

go 1.24
