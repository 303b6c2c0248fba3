-- Liveness probe used by /healthz: proves that scripts are loaded and run.
return redis.call('PING')
