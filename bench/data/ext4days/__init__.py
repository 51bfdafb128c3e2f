"""ext4days: ext4 disk images of one Debian server a day apart (bench/data/make-ext4-days.sh).

content   real-shaped bytes from a seed        distro    the day-1 tree
appdb     the SQLite database (sqlite3 CLI)    activity  one day of file activity
image     mke2fs, debugfs and in-place writes  rng       seeded streams
"""
