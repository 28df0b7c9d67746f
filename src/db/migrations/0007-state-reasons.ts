// An instance's state reason becomes a closed set of domain codes (`state_reason`) with an
// optional detail (`state_message`); each API edge words them itself. Reasons stored before
// as EC2 strings ('Server.InternalError: ...') are turned into codes.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('instances').addColumn('state_message', 'text').execute();
  await sql`
    UPDATE instances SET
      state_message = CASE
        WHEN state_reason LIKE 'Server.InternalError: %' THEN substr(state_reason, 23)
        ELSE NULL END,
      state_reason = CASE
        WHEN state_reason LIKE 'Server.InternalError%' THEN 'build_failed'
        WHEN state_reason = 'Client.UserInitiatedShutdown' THEN 'user_stopped'
        WHEN state_reason = 'Client.InstanceInitiatedShutdown' THEN 'guest_shutdown'
        ELSE NULL END
    WHERE state_reason IS NOT NULL`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('instances').dropColumn('state_message').execute();
}
