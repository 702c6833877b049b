#!/usr/bin/env bash
# Will the data directory survive a power cut, and can plaintext reach a disk?
#   check-storage.sh [DIR]        (default /var/lib/fieldkit)
# One line per finding: "ok: ...", "warning: ..." or "FAIL: ...".
# Exit 0 when nothing failed, 1 otherwise. Read-only; run by install.sh.
# Why each rule: docs/deploy-pi.md, "Power loss".
set -euo pipefail

dir="${1:-/var/lib/fieldkit}"
fails=0
ok() { printf 'ok: %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; fails=$((fails + 1)); }

probe="$dir"
while [ ! -e "$probe" ] && [ "$probe" != / ]; do probe="$(dirname "$probe")"; done
read -r target source fstype options < <(findmnt -n -T "$probe" -o TARGET,SOURCE,FSTYPE,OPTIONS | tail -n 1)
echo "data dir $dir: $fstype on $source at $target ($options)"

has_opt() { case ",$options," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
opt_value() { tr ',' '\n' <<<"$options" | sed -n "s/^$1=//p" | tail -n 1; }

if has_opt ro; then fail "mounted read-only: the outbox cannot be written"; fi
case "$fstype" in
    ext4|ext3)
        mode="$(opt_value data)"
        case "${mode:-ordered}" in
            ordered) ok "ext4 data=ordered (file data reaches the disk before the metadata that points to it)" ;;
            journal) ok "ext4 data=journal (all data through the journal; slower writes)" ;;
            writeback) fail "ext4 data=writeback: after a power cut, files written without fsync can hold stale blocks (sync-state.json, keys written at enrollment)" ;;
        esac
        if has_opt nobarrier || [ "$(opt_value barrier)" = 0 ]; then
            fail "write barriers off (nobarrier / barrier=0): fsync no longer flushes the card's cache, so SQLite's synchronous=FULL promises nothing"
        else
            ok "write barriers on (fsync flushes the card's cache)"
        fi
        commit="$(opt_value commit)"
        if [ -n "$commit" ] && [ "$commit" -gt 30 ]; then
            warn "commit=$commit: up to $commit s of files written without fsync are lost at a power cut (the outbox fsyncs every commit and is not affected)"
        else
            ok "journal commit every ${commit:-5} s"
        fi
        if has_opt strictatime; then
            warn "strictatime: every read is a write (wear); noatime or relatime is enough"
        else
            ok "atime updates are rare (noatime/relatime): reads do not write"
        fi
        if [ -b "$source" ] && command -v dumpe2fs >/dev/null; then
            if ! features="$(dumpe2fs -h "$source" 2>/dev/null | grep '^Filesystem features:')"; then
                warn "could not read the superblock of $source to check for a journal"
            elif [[ "$features" == *has_journal* ]]; then
                ok "ext4 has a journal"
            else
                fail "ext4 without a journal: a power cut can leave the file system needing a manual fsck"
            fi
        fi
        ;;
    f2fs)
        if [ "$(opt_value fsync_mode)" = nobarrier ]; then
            fail "f2fs fsync_mode=nobarrier: fsync does not flush the card's cache"
        else
            ok "f2fs with checkpointing and flushing fsync"
        fi
        ;;
    btrfs|xfs)
        if has_opt nobarrier; then fail "$fstype nobarrier"; else ok "$fstype (journaled / copy-on-write, barriers on)"; fi
        ;;
    tmpfs|ramfs|overlay|squashfs)
        fail "$fstype: the outbox would not survive a reboot (read-only root with an overlay? keep /var/lib/fieldkit on a real partition)"
        ;;
    vfat|exfat|msdos|ntfs|ntfs3|fuseblk)
        fail "$fstype: no journal and no Unix permissions (the key files must be 0600)"
        ;;
    ext2)
        fail "ext2: no journal"
        ;;
    *)
        warn "$fstype: not a file system this kit was checked on"
        ;;
esac
if has_opt sync; then warn "mounted with sync: every write waits for the card (slow, and wears it)"; fi

# Swap: pages of the kiosk's memory (card images) must never be written to a disk.
disk_swap=0
while read -r swdev _; do
    case "$swdev" in
        Filename) ;;
        /dev/zram*) ok "swap on $swdev (compressed RAM)" ;;
        *) fail "swap on $swdev: memory pages (card images) can reach the disk"; disk_swap=1 ;;
    esac
done </proc/swaps
[ "$disk_swap" = 1 ] || ok "no swap on a disk"

pattern="$(cat /proc/sys/kernel/core_pattern 2>/dev/null || echo '?')"
case "$pattern" in
    "|/bin/false"|"|/usr/bin/false") ok "core dumps discarded (core_pattern $pattern)" ;;
    *) warn "core_pattern is '$pattern': the units set LimitCORE=0; /etc/sysctl.d/90-fieldkit.conf discards the rest after a reboot" ;;
esac

[ "$fails" -eq 0 ]
