/**
 * The worker's count of requests in flight, for its drain (a draining worker exits once nothing is
 * in flight and no request has started for a moment) and the fulcrum_requests_in_flight gauge.
 * Everything that keeps a client waiting counts: a proxied request, a cache waiter, a compression
 * job, a body still being written to a slow client, a WebSocket.
 */
export const activity = {
  /** requests (and client writes) in flight */
  inFlight: 0,
  /** requests started so far (the drain watches it to see the old connections go quiet) */
  started: 0,
};

export function requestStarted(): void {
  activity.inFlight++;
  activity.started++;
}

export function requestFinished(): void {
  activity.inFlight--;
}
