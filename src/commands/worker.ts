export async function run(_args: string[]): Promise<void> {
  throw new Error('the worker command is not implemented yet');
}
