-- When the athlete asked to disconnect (DELETE /athletes/:id), until they connect again. The workflow's purge of a
-- disconnect runs only while it is set: an athlete who connected again before the purge ran keeps the new tokens
-- the OAuth callback stored (the chaos test found them deleted by a purge that overtook the reconnect).
alter table athletes add column disconnect_requested_at timestamptz;
