"""Schedules for the ``pack`` and ``backup`` options.

A value reads ``TIME [DAYS] [EMAIL]``:

- TIME is either five cron fields (minute, hour, day of month, month,
  weekday) or one of cron's shorthands (``@hourly``, ``@daily``,
  ``@midnight``, ``@weekly``, ``@monthly``, ``@yearly``, ``@annually``).
- DAYS, a whole number, is how many days of history a pack keeps
  (``zeopack -d DAYS``).
- EMAIL is where cron mails the output of the job (``MAILTO``).

``parse`` checks every field the way cron does and returns a ``Schedule``,
which can write itself back as a crontab time or as a systemd ``OnCalendar``
expression.
"""
import calendar
import dataclasses
import functools
import itertools
import re

from zc.zodbrecipes.options import OptionError


SHORTHANDS = {
    '@hourly': '0 * * * *',
    '@daily': '0 0 * * *',
    '@midnight': '0 0 * * *',
    '@weekly': '0 0 * * 0',
    '@monthly': '0 0 1 * *',
    '@yearly': '0 0 1 1 *',
    '@annually': '0 0 1 1 *',
}

MONTHS = ('jan', 'feb', 'mar', 'apr', 'may', 'jun',
          'jul', 'aug', 'sep', 'oct', 'nov', 'dec')
WEEKDAYS = ('sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat')

_DIGITS = re.compile(r'[0-9]+\Z')


@dataclasses.dataclass(frozen=True)
class Field:
    label: str
    low: int
    high: int
    names: tuple = ()   # names[i] means low + i

    def value(self, text):
        """One number or name of this field."""
        if _DIGITS.match(text):
            n = int(text)
        elif text.lower() in self.names:
            n = self.low + self.names.index(text.lower())
        elif self.names:
            raise OptionError(
                '%s: %r is neither a number (%s-%s) nor a name (%s)'
                % (self.label, text, self.low, self.high,
                   ', '.join(dict.fromkeys(self.names))))
        else:
            raise OptionError(
                '%s: %r is not a number' % (self.label, text))
        if not self.low <= n <= self.high:
            raise OptionError('%s: %s is out of range (%s-%s)'
                              % (self.label, n, self.low, self.high))
        return n

    def element(self, text):
        """The values of one comma-separated element: N, N-M, */S, N-M/S."""
        body, slash, step = text.partition('/')
        if body == '*':
            first, last = self.low, self.high
        elif '-' in body:
            a, _, b = body.partition('-')
            first, last = self.value(a), self.value(b)
            if first > last:
                raise OptionError(
                    '%s: the range %r runs backwards' % (self.label, body))
        else:
            if slash:
                raise OptionError(
                    '%s: %r: a step (/N) needs a range or "*" before it'
                    % (self.label, text))
            first = last = self.value(body)
        by = 1
        if slash:
            if not _DIGITS.match(step) or not 1 <= int(step) <= self.high:
                raise OptionError(
                    '%s: %r: the step must be a number from 1 to %s'
                    % (self.label, text, self.high))
            by = int(step)
        return set(range(first, last + 1, by))

    def expand(self, text):
        """All values a field matches, as a frozenset of numbers."""
        values = set()
        for element in text.split(','):
            if not element:
                raise OptionError(
                    '%s: %r has an empty list item' % (self.label, text))
            values |= self.element(element)
        return frozenset(values)


MINUTE = Field('minute', 0, 59)
HOUR = Field('hour', 0, 23)
DOM = Field('day of month', 1, 31)
MONTH = Field('month', 1, 12, MONTHS)
DOW = Field('weekday', 0, 7, WEEKDAYS + ('sun',))
FIELDS = (MINUTE, HOUR, DOM, MONTH, DOW)

# What we accept in MAILTO: plain addresses, nothing a shell, cron or mail
# header would read specially, and no leading "-" (cron hands the address
# to sendmail as an argument).
_EMAIL = re.compile(
    r'[A-Za-z0-9_+][A-Za-z0-9_+-]*(\.[A-Za-z0-9_+-]+)*'
    r'@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\Z')


@dataclasses.dataclass(frozen=True)
class Schedule:
    """When a job runs, with the pack's DAYS and the MAILTO address.

    For a shorthand (``@weekly``) the five fields hold what it stands for.
    """
    minute: str
    hour: str
    dom: str
    month: str
    dow: str
    days: int = None
    email: str = None
    shorthand: str = None

    @property
    def fields(self):
        return (self.minute, self.hour, self.dom, self.month, self.dow)

    def cron_time(self):
        """The time part of a crontab line."""
        return self.shorthand or ' '.join(self.fields)

    def values(self):
        """The sets of minutes, hours, days, months and weekdays (0-6)."""
        return self._values

    @functools.cached_property
    def _values(self):
        minutes, hours, doms, months, dows = (
            f.expand(t) for f, t in zip(FIELDS, self.fields))
        return minutes, hours, doms, months, frozenset(d % 7 for d in dows)

    def either_day(self):
        """True when cron runs the job if the day of month OR the weekday
        matches: that is cron's rule when neither field starts with "*".
        """
        return not (self.dom.startswith('*') or self.dow.startswith('*'))

    def runs_at(self, when):
        """Does the job start at this datetime's minute?"""
        minutes, hours, _, _, _ = self.values()
        return (when.minute in minutes and when.hour in hours and
                self.runs_on(when.month, when.day, when.isoweekday() % 7))

    def runs_on(self, month, dom, dow):
        """Does the job run on that day?  (dow: 0 = Sunday)"""
        _, _, doms, months, dows = self.values()
        if month not in months:
            return False
        if self.either_day():
            return dom in doms or dow in dows
        return dom in doms and dow in dows

    def systemd_oncalendar(self):
        """The same schedule as a systemd ``OnCalendar=`` expression."""
        if self.either_day():
            raise OptionError(
                '%r runs when the day of month OR the weekday matches;'
                ' systemd timers need both to match, so this schedule has no'
                ' OnCalendar equivalent: put "*" in one of the two fields'
                % self.cron_time())
        minutes, hours, doms, months, dows = self.values()
        date = '*-%s-%s' % (_calendar(months, MONTH), _calendar(doms, DOM))
        time = '%s:%s:00' % (_calendar(hours, HOUR),
                             _calendar(minutes, MINUTE))
        weekdays = _weekdays(dows)
        return ' '.join(p for p in (weekdays, date, time) if p)


def _calendar(values, field):
    """One systemd calendar component for a set of values."""
    values = sorted(values)
    if values == list(range(field.low, field.high + 1)):
        return '*'
    step = _progression(values)
    if step:
        first, last = values[0], values[-1]
        if last + step > field.high:
            return '%02d/%d' % (first, step)
        return '%02d..%02d/%d' % (first, last, step)
    return ','.join(
        '%02d' % a if a == b else
        '%02d,%02d' % (a, b) if b == a + 1 else
        '%02d..%02d' % (a, b)
        for a, b in _runs(values))


def _progression(values):
    """The step of an arithmetic progression of 3 or more values, if > 1."""
    if len(values) < 3:
        return None
    steps = {b - a for a, b in zip(values, values[1:])}
    if len(steps) == 1 and steps != {1}:
        return steps.pop()
    return None


def _runs(values):
    """Sorted values as (first, last) runs of consecutive numbers."""
    runs = []
    for v in values:
        if runs and runs[-1][1] == v - 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    return runs


_SYSTEMD_DAYS = ('Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun')


def _weekdays(dows):
    """The weekday part of OnCalendar (empty for every day)."""
    if len(dows) == 7:
        return ''
    # systemd's week starts on Monday (cron's 1), Sunday (0) is last.
    days = sorted((d - 1) % 7 for d in dows)
    return ','.join(
        _SYSTEMD_DAYS[a] if a == b else
        '%s,%s' % (_SYSTEMD_DAYS[a], _SYSTEMD_DAYS[b]) if b == a + 1 else
        '%s..%s' % (_SYSTEMD_DAYS[a], _SYSTEMD_DAYS[b])
        for a, b in _runs(days))


def parse(value):
    """Parse ``TIME [DAYS] [EMAIL]`` into a Schedule."""
    words = value.split()
    if not words:
        raise OptionError('is empty: give five cron fields or @daily,'
                          ' @weekly...')
    if words[0].startswith('@'):
        shorthand = words[0].lower()
        if shorthand not in SHORTHANDS:
            raise OptionError(
                '%r is not a usable shorthand (use one of %s)'
                % (words[0], ', '.join(sorted(SHORTHANDS))))
        fields, rest = SHORTHANDS[shorthand].split(), words[1:]
    else:
        shorthand = None
        fields, rest = words[:5], words[5:]
        if len(fields) < 5 or '@' in ''.join(fields):
            raise OptionError(
                '%r: a schedule needs five cron fields (minute hour'
                ' day-of-month month weekday) or a shorthand such as @weekly'
                % value)
        # 0 0 3 * * sun, 0 0 3 ? * SUN *: seconds and years (Quartz)
        quartz = rest and _looks_like_field(rest[0])
        try:
            for field, text in zip(FIELDS, fields):
                field.expand(text)
        except OptionError:
            if not (quartz and all(_DIGITS.match(f) or _looks_like_field(f)
                                   for f in fields)):
                raise
        if quartz:
            found = 5 + len(list(itertools.takewhile(_looks_like_field,
                                                     rest)))
            raise OptionError(
                '%r: five cron fields expected (minute hour day-of-month'
                ' month weekday), not %d: cron has no seconds or years'
                ' field' % (value, found))
    days, email = _days_and_email(rest)
    return Schedule(*fields, days=days, email=email, shorthand=shorthand)


_FIELDISH = re.compile(
    r'[0-9*?,/#LW-]*[*?,/#LW][0-9*?,/#LW-]*\Z'
    r'|(sun|mon|tue|wed|thu|fri|sat|jan|feb|mar|apr|may|jun|jul|aug|sep'
    r'|oct|nov|dec)([-,/].*)?\Z', re.I)


def _looks_like_field(word):
    """Is word (after five fields) rather a sixth time field than a
    number of days: a name, or cron or Quartz field syntax (*, ?, ranges,
    lists, steps, L, W, #)?"""
    return bool(_FIELDISH.match(word)) or bool(
        re.match(r'[0-9]+-[0-9]+\Z', word))


def _days_and_email(words):
    days = email = None
    if words and '@' not in words[0]:
        if not _DIGITS.match(words[0]):
            raise OptionError(
                'days: %r is not a whole number of days' % words[0])
        days = int(words.pop(0))
    if words:
        email = words.pop(0)
        if not _EMAIL.match(email):
            raise OptionError(
                'e-mail: %r is not a plain e-mail address (name@domain)'
                % email)
    if words:
        raise OptionError(
            'unexpected %r after the schedule: expected at most a number of'
            ' days and an e-mail address' % ' '.join(words))
    return days, email


def coincidence(a, b):
    """The first (month, day, hour, minute) at which both schedules may run,
    or None when they never run in the same minute.
    """
    minutes_a, hours_a, _, _, _ = a.values()
    minutes_b, hours_b, _, _, _ = b.values()
    minutes = sorted(minutes_a & minutes_b)
    hours = sorted(hours_a & hours_b)
    if not (minutes and hours):
        return None
    # Every valid (month, day) falls on every weekday in some year.
    for month in range(1, 13):
        for dom in range(1, calendar.monthrange(2000, month)[1] + 1):
            for dow in range(7):
                if a.runs_on(month, dom, dow) and b.runs_on(month, dom, dow):
                    return month, dom, hours[0], minutes[0]
    return None


def distinct_minute(backup, pack, names=('backup', 'pack')):
    """Return backup unchanged, or raise OptionError if backup and pack can
    start in the same minute (names: what the error calls the two jobs).

    We do not move a time the user chose: the error says which minute the two
    share, and the user picks another.
    """
    when = coincidence(backup, pack)
    if when:
        month, dom, hour, minute = when
        raise OptionError(
            '%s (%s) and %s (%s) would both start at %02d:%02d (for'
            ' example on %s %d): give them different times'
            % (names[0], backup.cron_time(), names[1], pack.cron_time(),
               hour, minute, MONTHS[month - 1].capitalize(), dom))
    return backup
