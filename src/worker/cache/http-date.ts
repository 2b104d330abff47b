/**
 * A strict HTTP-date parser (RFC 9110 5.6.7), the one the cache uses for Expires, Date,
 * Last-Modified and If-Modified-Since. It accepts exactly the three forms a recipient must accept:
 *   IMF-fixdate   Sun, 06 Nov 1994 08:49:37 GMT
 *   rfc850-date   Sunday, 06-Nov-94 08:49:37 GMT   (obsolete; two-digit year, see below)
 *   asctime-date  Sun Nov  6 08:49:37 1994          (obsolete)
 * and nothing else: HTTP-date is case-sensitive, so "UTC" or "gmt" for GMT, a missing comma,
 * doubled spaces, dashes in an IMF-fixdate, a one-digit hour, a two-digit year outside rfc850-date,
 * an impossible day (31 Apr) or a value combined from two field lines are all invalid. What an
 * invalid value means is the field's rule, decided by the caller (policy.ts): an invalid Expires is
 * already expired (RFC 9111 5.3), an invalid Date or Last-Modified is treated as absent, an invalid
 * If-Modified-Since is ignored (RFC 9110 13.1.3). Date.parse is not used: it accepts all of the
 * above and more.
 */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = MONTHS.join('|');
const TIME = '(\\d\\d):(\\d\\d):(\\d\\d)';

/** IMF-fixdate: day-name "," SP day SP month SP year SP time-of-day SP "GMT" */
const IMF_FIXDATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d\\d) (${MONTH}) (\\d{4}) ${TIME} GMT$`);
/** rfc850-date: day-name-l "," SP day "-" month "-" 2DIGIT SP time-of-day SP "GMT" */
const RFC850_DATE = new RegExp(`^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d\\d)-(${MONTH})-(\\d\\d) ${TIME} GMT$`);
/** asctime-date: day-name SP month SP ( 2DIGIT / ( SP DIGIT ) ) SP time-of-day SP year */
const ASCTIME_DATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (${MONTH}) (\\d\\d| \\d) ${TIME} (\\d{4})$`);

/**
 * parseHttpDate returns the time of an HTTP-date in ms since the epoch, or NaN when the value is
 * not one. `now` (ms) places the two-digit years of rfc850-date: a year that would be more than
 * 50 years in the future is the most recent past year with the same last two digits (RFC 9110 5.6.7).
 */
export function parseHttpDate(v: string | null | undefined, now = Date.now()): number {
  if (!v) return NaN;
  // a field value has no surrounding whitespace (RFC 9110 5.5); the parsers of the engine trim it
  // already, this keeps values taken from elsewhere (tests, the request fields) to the same rule
  const s = v.trim();
  let m = IMF_FIXDATE.exec(s);
  if (m !== null) return utc(Number(m[3]), m[2]!, Number(m[1]), m[4]!, m[5]!, m[6]!);
  m = RFC850_DATE.exec(s);
  if (m !== null) {
    const thisYear = new Date(now).getUTCFullYear();
    let year = thisYear - (thisYear % 100) + Number(m[3]);
    if (year > thisYear + 50) year -= 100;
    return utc(year, m[2]!, Number(m[1]), m[4]!, m[5]!, m[6]!);
  }
  m = ASCTIME_DATE.exec(s);
  if (m !== null) return utc(Number(m[6]), m[1]!, Number(m[2]!.trim()), m[3]!, m[4]!, m[5]!);
  return NaN;
}

/** utc checks the ranges the grammar leaves open (day of the month, 00:00:00 - 23:59:60) and converts. */
function utc(year: number, month: string, day: number, hh: string, mm: string, ss: string): number {
  const mon = MONTHS.indexOf(month);
  const h = Number(hh);
  const min = Number(mm);
  const sec = Number(ss);
  if (day < 1 || day > daysIn(year, mon) || h > 23 || min > 59 || sec > 60) return NaN;
  // a leap second (60) is the first second of the next minute: Date.UTC carries it over
  const t = Date.UTC(year, mon, day, h, min, sec);
  // Date.UTC reads years 0-99 as 1900-1999; "0050" is the year 50
  return year >= 100 ? t : new Date(t).setUTCFullYear(year);
}

function daysIn(year: number, month: number): number {
  if (month === 1) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 3 || month === 5 || month === 8 || month === 10 ? 30 : 31;
}
