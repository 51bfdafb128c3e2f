"""ext4days: ext4 disk images of one Debian server a day apart (bench/data/make-ext4-days.sh).

text, logfiles, binary, media   real-shaped bytes from a seed
generators                     file contents by name (for tasks run in worker processes)
packages                       Debian packages, their versions, .debs, dpkg's status
distro                         the day-1 tree         appdb     the SQLite database (sqlite3)
activity                       one day's file activity
image                          mke2fs, debugfs and in-place writes
rng, clock                     seeded streams; the calendar
"""
