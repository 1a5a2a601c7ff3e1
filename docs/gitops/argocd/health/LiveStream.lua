-- Argo CD health check for streaming.streamops.dev/LiveStream (Lua 5.1 subset, as Argo CD runs it).
-- Order: not yet observed -> Progressing; Stalled -> Degraded; switched off, or a pull stream
-- deactivated after its inactivity timeout (Ready reason Deactivated: it waits for the user) -> Suspended;
-- Reconciling -> Progressing; Ready -> Healthy (live or waiting for a publisher); else Progressing.
local hs = {}
local function condition(t)
  if obj.status ~= nil and obj.status.conditions ~= nil then
    for _, c in ipairs(obj.status.conditions) do
      if c.type == t then return c end
    end
  end
  return nil
end
if obj.status == nil or obj.status.observedGeneration == nil
    or obj.status.observedGeneration < obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe the latest spec"
  return hs
end
local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.message or stalled.reason or "Stalled"
  return hs
end
if obj.spec ~= nil and obj.spec.active == false then
  hs.status = "Suspended"
  hs.message = "Stream is switched off (spec.active: false)"
  return hs
end
local ready = condition("Ready")
if ready ~= nil and ready.status == "False" and ready.reason == "Deactivated" then
  hs.status = "Suspended"
  hs.message = ready.message or "Pull stream deactivated"
  return hs
end
local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = reconciling.message or reconciling.reason or "Reconciling"
  return hs
end
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  if obj.status.live == true then
    hs.message = "Live"
  else
    hs.message = "Ready for a publisher"
  end
  return hs
end
-- Not ready, nothing stalled: waiting on something outside (a stream to go live, a Pod to run).
hs.status = "Progressing"
if ready ~= nil then
  hs.message = ready.message or ready.reason or "Not ready"
else
  hs.message = "Waiting for the Ready condition"
end
return hs
