#!/usr/bin/env bash
# Copies the admin page's screenshots the README shows (login, backups,
# archives, a restore's plan to confirm, a run with warnings, a run in
# progress, its Cancel, the cancelled run and the runs list; each 1280 and
# 1920 px wide) from the e2e tests' folder into docs/screenshots, made
# small with pngquant (lossy, 64 colours: a flat page loses nothing a reader
# sees) then optipng. Take them first, under the e2e lock:
#   cargo build --workspace && flock /tmp/gnbr-e2e.lock cargo test -p gnbr-e2e --test e2e -- \
#     serve::the_admin_page_backs_up serve::a_backup_with_warnings serve::any_archive \
#     serve::a_cancelled_backup
set -euo pipefail
cd "$(dirname "$0")/.."
from=${GNBR_SCREENSHOTS:-target/e2e-screenshots}
to=docs/screenshots
for tool in pngquant optipng; do
  command -v "$tool" >/dev/null || { echo "$0: $tool is missing: apt-get install $tool" >&2; exit 2; }
done
mkdir -p "$to"
for page in login backups archives restore-confirm run-warnings run-progress run-cancel run-cancelled runs-cancelled; do
  for width in 1280 1920; do
    name="$page-$width.png"
    [ -f "$from/$name" ] || { echo "$0: $from/$name is missing: run the e2e tests above first" >&2; exit 2; }
    pngquant --force --skip-if-larger --strip 64 --output "$to/$name" "$from/$name" || cp "$from/$name" "$to/$name"
    optipng -quiet -o2 "$to/$name"
  done
done
du -ch "$to"/*.png | tail -1
