#!/bin/sh
# Adds the sample articles in examples/articles to the site in the current directory.
# Usage: sh examples/seed.sh [path/to/feeder]
# (The same as 'feeder import examples/articles': each file carries its own title,
# slug, tags and publication time in front matter, and importing again changes nothing.)
set -e
FEEDER=${1:-feeder}
"$FEEDER" import "$(dirname "$0")/articles"
