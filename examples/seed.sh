#!/bin/sh
# Adds the sample articles in examples/articles to the site in the current directory.
# Usage: sh examples/seed.sh [path/to/feeder]
set -e
FEEDER=${1:-feeder}
DIR=$(dirname "$0")/articles
"$FEEDER" add --title "Welcome to feeder" --slug welcome --tag news --tag feeder \
  --published 2026-11-20T09:00:00Z --content-file "$DIR/welcome.html"
"$FEEDER" add --title "How feeds stay valid" --slug valid-feeds --tag feeds \
  --published 2026-11-22T14:30:00Z --content-file "$DIR/valid-feeds.html"
"$FEEDER" add --title "Scheduling articles" --slug scheduling --tag feeds --tag howto \
  --published 2026-11-24T08:15:00Z --content-file "$DIR/scheduling.html"
"$FEEDER" add --title "Elsewhere: the RSS 2.0 specification" --slug rss-spec \
  --link https://www.rssboard.org/rss-specification --tag feeds \
  --published 2026-11-25T17:45:00Z --summary "The RSS Advisory Board's specification of RSS 2.0."
