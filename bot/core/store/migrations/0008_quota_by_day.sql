-- 8: a server's spend and usage by day (bot.budget, /usage): charges of a day range.
CREATE INDEX quota_by_day ON quota_charges (day);
