-- Pillarbox schema, version 6: the envelope parameters of queued mail.
--
-- Each queue item keeps the parameters its MAIL and RCPT commands
-- carried, to pass them on to the next hop and to honour them in
-- Pillarbox's own notices:
--   dsn_ret      RFC 3461 4.3 RET: 'FULL', 'HDRS', or '' when not given
--   dsn_envid    RFC 3461 4.4 ENVID, decoded from xtext; '' when not given
--   dsn_notify   RFC 3461 4.1 NOTIFY: 'NEVER' or a comma-separated set of
--                'SUCCESS', 'FAILURE', 'DELAY'; '' when not given
--   dsn_orcpt    RFC 3461 4.2 ORCPT as 'type;address', decoded; '' when
--                not given
--   require_tls  RFC 8689 REQUIRETLS: deliver only over verified TLS
-- Rows queued before this version have none of them.

ALTER TABLE queue ADD COLUMN dsn_ret     TEXT NOT NULL DEFAULT '' CHECK (dsn_ret IN ('', 'FULL', 'HDRS'));
ALTER TABLE queue ADD COLUMN dsn_envid   TEXT NOT NULL DEFAULT '';
ALTER TABLE queue ADD COLUMN dsn_notify  TEXT NOT NULL DEFAULT '';
ALTER TABLE queue ADD COLUMN dsn_orcpt   TEXT NOT NULL DEFAULT '';
ALTER TABLE queue ADD COLUMN require_tls INTEGER NOT NULL DEFAULT 0;
