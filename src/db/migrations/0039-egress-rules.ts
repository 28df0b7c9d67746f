// Egress rules (issue 16): every security group holds its outbound rules as rows like its
// inbound ones, and a group starts with the allow-all egress rule (all protocols to
// 0.0.0.0/0) that EC2 and Neutron give a new group. Groups made before get that rule here,
// so what they allowed (everything out) stays allowed until a user narrows it.
import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  const { rows } = await sql<{
    id: string;
    created_at: number | string;
  }>`select id, created_at from security_groups`.execute(db);
  for (const g of rows) {
    await sql`insert into security_group_rules
      (id, group_id, direction, protocol, from_port, to_port, cidr, source_group_id, created_at)
      values (${randomUUID()}, ${g.id}, 'egress', '-1', null, null, '0.0.0.0/0', null,
        ${Number(g.created_at)})`.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`delete from security_group_rules where direction = 'egress'`.execute(db);
}
