export async function run(_args: string[]): Promise<void> {
  throw new Error('the api command is not implemented yet');
}
