"""The durable queue: accepted messages, one delivery row per recipient, attempts and DSNs.

Recovery rules, in one place:

* A message exists for delivery only once its sealed blob is synced to disk
  and its rows are committed; the 250 reply to DATA waits for both.
* A worker owns a delivery while its lease is in the future. A worker that
  dies loses nothing: when the lease expires, any worker may claim the row.
* An attempt row is committed before the worker connects anywhere. An
  attempt found unfinished with an expired lease was interrupted; it is
  marked so, and the delivery is tried again. The remote server may have
  accepted the message before the crash, so that one delivery can repeat
  (the at-least-once rule of RFC 5321 section 6.1).
"""
