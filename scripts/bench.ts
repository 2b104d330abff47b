export async function main(_args: string[]): Promise<void> {
  throw new Error('not yet');
}
