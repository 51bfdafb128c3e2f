"""The generated server's calendar: the day-1 snapshot is taken at T0, one a day after that."""

T0 = 1732410000  # 2024-11-24 01:00:00 UTC: the day-1 snapshot
DAY = 86400
