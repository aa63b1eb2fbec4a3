-- SPDX-License-Identifier: MIT
-- wrk script for scripts/bench-daemon's durability runs: every request is
-- POST /v1/bans of a target no other request of the run uses
-- (10.OCTET.T.K, OCTET from $BAN_OCTET, T the wrk thread, K a counter), so
-- each is a new ban: an op that must be durable before its 201.
-- Needs $TOKEN.
local threads = {}

function setup(thread)
	thread:set("tid", #threads)
	table.insert(threads, thread)
end

local counter = 0
local headers = {
	["Content-Type"] = "application/json",
	["Authorization"] = "Bearer " .. os.getenv("TOKEN"),
}
local octet = tonumber(os.getenv("BAN_OCTET") or "100")

request = function()
	counter = counter + 1
	local body = string.format('{"target":"10.%d.%d.%d","ttl":86400}',
		octet, (tid * 64 + math.floor(counter / 256)) % 256,
		counter % 256)
	return wrk.format("POST", "/v1/bans", headers, body)
end
