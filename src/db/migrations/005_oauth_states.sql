-- OAuth connect: every state that reached the callback, kept until it would have expired anyway, so a state
-- (and the authorization code that travels with it) cannot be replayed. The nonce is the state's random part.
create table oauth_states (
  nonce      text primary key,
  expires_at timestamptz not null,
  used_at    timestamptz not null default now()
);
create index oauth_states_expires on oauth_states (expires_at);
