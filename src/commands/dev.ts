export async function run(_args: string[]): Promise<void> {
  throw new Error('the dev command is not implemented yet');
}
