// Dates and times as the victims' page shows them: long date and short time in the reader's language, in the
// device's time zone (or the one given). The node sends instants as RFC 3339 UTC text; a value that is no
// instant is shown as nothing rather than as "Invalid Date".

export function formatDate(iso, language, timeZone = undefined) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return new Intl.DateTimeFormat(language, { dateStyle: "long", timeStyle: "short", timeZone }).format(date);
}
