export async function run(_args: string[]): Promise<void> {
  throw new Error('the rotate-keys command is not implemented yet');
}
