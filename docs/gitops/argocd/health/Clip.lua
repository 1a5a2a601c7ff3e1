-- Argo CD health check for streaming.streamops.dev/Clip (Lua 5.1 subset, as Argo CD runs it).
-- Order: not yet observed -> Progressing; Stalled -> Degraded (refused); Succeeded -> Healthy (the video
-- stored) or Degraded (failed); Reconciling -> Progressing (cutting, or waiting for the DVR to hold
-- the end); Ready -> Healthy.
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
local succeeded = condition("Succeeded")
if succeeded ~= nil and succeeded.status == "True" then
  hs.status = "Healthy"
  hs.message = succeeded.message or "Clip stored"
  return hs
end
if succeeded ~= nil and succeeded.status == "False" then
  hs.status = "Degraded"
  hs.message = succeeded.message or succeeded.reason or "Clip failed"
  return hs
end
local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = reconciling.message or reconciling.reason or "Reconciling"
  return hs
end
local ready = condition("Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or "Clip stored"
  return hs
end
hs.status = "Progressing"
if ready ~= nil then
  hs.message = ready.message or ready.reason or "Not clipped yet"
else
  hs.message = "Waiting for the Ready condition"
end
return hs
