"""The paper as data: its group schedules and the numbers its tables report (``tables/*.csv``)."""
