-- When this alert last reached this target (or found no target at all): the cooldown's start.
-- Failed attempts do not count, so a channel that was down is retried at the next evaluation.
SELECT max(sent_at) AS sent_at
FROM alert_history
WHERE alert_key = :alert_key AND sent_to = :sent_to AND status IN ('sent', 'unrouted')
