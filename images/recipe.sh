# shellcheck shell=bash disable=SC2154  # $docker, log and die come from the sourcing script
# Sourced by the image build scripts that rebuild only when their recipe changed (images/*/build.sh,
# scripts/build-ee.sh). The caller defines log, die and $docker (a client with BuildKit built in).
#
# An image carries the label RECIPE_LABEL with a hash of what it is built from; when an image with the
# tag and that label exists, nothing is built (FORCE=1 rebuilds anyway).
RECIPE_LABEL=io.edgeai.slm-fleet.recipe-sha256

# recipe_up_to_date TAG RECIPE: true (and says so) when TAG carries RECIPE and FORCE is not 1; otherwise
# says why TAG is built and returns false.
recipe_up_to_date() {
  local tag=$1 recipe=$2 current
  current=$("$docker" image inspect --format "{{index .Config.Labels \"$RECIPE_LABEL\"}}" "$tag" 2>/dev/null || true)
  if [ "${FORCE:-0}" != 1 ] && [ "$current" = "$recipe" ]; then
    log "$tag is up to date (recipe ${recipe:0:12}): nothing built"
    return 0
  fi
  if [ "${FORCE:-0}" = 1 ]; then
    log "FORCE=1: rebuilding $tag (recipe ${recipe:0:12})"
  elif [ -n "$current" ]; then
    log "$tag exists with recipe ${current:0:12}, want ${recipe:0:12}: rebuilding"
  else
    log "$tag not present: building (recipe ${recipe:0:12})"
  fi
  return 1
}

# require_free_gb DIR GB WHAT VARIABLE: stop unless DIR's file system has GB free, naming what the space
# is for and the variable that changes the requirement.
require_free_gb() {
  local dir=$1 need=$2 what=$3 variable=$4 free
  free=$(df -Pk "$dir" | awk 'NR==2 {print int($4 / 1048576)}')
  [ "$free" -ge "$need" ] \
    || die "only ${free} GB free under $dir; the build needs ${need} GB ($what). Free space (docker image prune) or set $variable"
}
